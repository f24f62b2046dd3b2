"""Orchestration: the end-to-end runs that read a dataset, call the library and write the store.

Layers import downward only (``tests/test_layers.py`` checks it)::

    engine  <-  factors  <-  backtest  <-  pipeline  <-  cli

- :mod:`etfflow.pipeline.runs`: validate → look-through → factors → store
  (:func:`~etfflow.pipeline.runs.run_lookthrough`, :func:`~etfflow.pipeline.runs.run_factors`);
- :mod:`etfflow.pipeline.backtest`: a stored factor run → evaluation → store, exports and the
  HTML report (:func:`~etfflow.pipeline.backtest.run_backtest`);
- :mod:`etfflow.pipeline.demo`: the demo job end to end (:func:`~etfflow.pipeline.demo.run_demo`).

The compute layers below never open files or the store; this package and the CLI do.
"""
