"""Data adapters: each turns one outside source into data-contract tables."""
