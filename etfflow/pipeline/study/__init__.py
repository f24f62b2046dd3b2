"""Studies: a research plan (a grid of backtest cells) in one TOML file, run on this machine or
a Dask cluster, stored and compared (docs/scale_out.md)."""
