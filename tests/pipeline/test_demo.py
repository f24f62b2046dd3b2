"""The demo job as a library call (``etfflow.pipeline.demo.run_demo``)."""

from __future__ import annotations

import pytest

from etfflow.engine.store import open_store
from etfflow.exceptions import EtfflowError
from etfflow.pipeline.demo import INDUSTRY_REPORT, STOCK_REPORT, run_demo


def test_run_demo_stores_every_run_and_reuses_its_market(tmp_path):
    out, store = tmp_path / "m", tmp_path / "r.duckdb"
    steps: set[str] = set()
    d = run_demo(size="tiny", out=out, store=store, progress=lambda s, i, n: steps.add(s))
    assert d.generated and d.compacted is None and d.market_dir == out
    ids = {
        "lookthrough": d.lookthrough.run_id,
        "factors": {d.stock.run_id, d.industry.run_id},
        "backtest": {d.stock_backtest.run_id, d.industry_backtest.run_id},
    }
    with open_store(store, read_only=True) as st:
        runs = st.runs()
        kinds = dict(zip(runs["run_id"], runs["kind"], strict=True))
    assert kinds[ids["lookthrough"]] == "lookthrough"
    assert {kinds[r] for r in ids["factors"]} == {"factors"}
    assert {kinds[r] for r in ids["backtest"]} == {"backtest"}
    assert d.stock.factors.level == "stock" and d.industry.factors.level == "industry_l1"
    assert d.stock_backtest.evaluation.summary.height == len(d.stock.factors.names)
    assert (tmp_path / STOCK_REPORT).is_file() and (tmp_path / INDUSTRY_REPORT).is_file()
    assert d.flow_ts_corr.height > 0 and "compact store" not in steps

    again = run_demo(size="tiny", out=out, store=store)
    assert not again.generated  # same size and seed: the market is reused
    assert again.compacted is not None and again.compacted[1] <= again.compacted[0]
    assert again.stock_backtest.evaluation.summary.equals(d.stock_backtest.evaluation.summary)


def test_run_demo_refuses_bad_arguments_before_any_work(tmp_path):
    with pytest.raises(EtfflowError, match="unknown market size 'huge'"):
        run_demo(size="huge", out=tmp_path / "m", store=tmp_path / "r.duckdb")
    (tmp_path / "x.parquet").write_bytes(b"PAR1")
    with pytest.raises(EtfflowError):
        run_demo(size="tiny", out=tmp_path / "m", store=tmp_path / "x.parquet")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.parquet"]
