"""Engine: data contract, loading, validation, look-through and the DuckDB result store."""
