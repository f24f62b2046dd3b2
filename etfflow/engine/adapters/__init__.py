"""Data adapters: each turns one outside source (exchange files, exports) into data-contract
tables."""
