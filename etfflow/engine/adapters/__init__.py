"""Data adapters: turn external sources (files, exports) into the data contract's tables."""
