"""Tests of etfflow.backtest."""
