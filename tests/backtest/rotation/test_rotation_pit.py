"""Point in time for the whole rotation: perturb every input after a cut date and nothing
dated up to the cut changes in any exported table (docs/methodology.md#8-industry-rotation).

Whole-period aggregates (``summary``, ``correlation``, ``divergence_groups``, ``sector_mix``,
``industry_hits``) are not dated and are left out; a holding row counts as dated by the end of
its holding period, an issuance row by its month's last day.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from etfflow.backtest.rotation.params import RotationParams
from etfflow.backtest.rotation.run import rotate
from etfflow.engine.loading import open_dataset

CUT = dt.date(2024, 3, 13)


def _rewrite(root: Path, table: str, fn) -> None:
    path = root / f"{table}.parquet"
    fn(pl.read_parquet(path)).write_parquet(path)


def perturb_after(src: Path, dst: Path, cut: dt.date, seed: int = 1) -> Path:
    """A copy of the dataset whose every value dated after ``cut`` is scrambled."""
    shutil.copytree(src, dst)
    rng = np.random.default_rng(seed)

    def scale(df: pl.DataFrame, when: pl.Expr, cols: tuple[str, ...]) -> pl.DataFrame:
        f = pl.Series(rng.uniform(0.5, 1.5, df.height))
        return df.with_columns(
            pl.when(when).then(pl.col(c) * f).otherwise(pl.col(c)).alias(c) for c in cols
        )

    after = pl.col("date") > cut
    _rewrite(dst, "stock_daily", lambda d: scale(d, after, ("close", "ret", "float_mcap")))
    _rewrite(dst, "etf_daily", lambda d: scale(d, after, ("shares", "nav")))
    _rewrite(dst, "index_daily", lambda d: scale(d, after, ("close",)))
    _rewrite(dst, "fund_nav", lambda d: scale(d, after, ("nav",)))
    _rewrite(dst, "active_holdings", lambda d: scale(d, pl.col("disclose_date") > cut, ("mv",)))
    _rewrite(
        dst,
        "fund_issuance",
        lambda d: scale(d, pl.col("month") >= cut.replace(day=1), ("new_shares",)),
    )

    def weights(d: pl.DataFrame) -> pl.DataFrame:
        d = scale(d, after, ("weight",))
        return d.with_columns(pl.col("weight") / pl.col("weight").sum().over("date", "etf_code"))

    _rewrite(dst, "holding_weights", weights)

    def industries(d: pl.DataFrame) -> pl.DataFrame:
        d = d.with_columns(
            pl.col(c).cast(pl.String) for c in ("code", "industry_l1", "industry_l2")
        )
        labels = d["industry_l1"].unique().sort().to_list()
        shifted = {a: labels[(i + 1) % len(labels)] for i, a in enumerate(labels)}
        d = d.with_columns(
            pl.when(pl.col("start_date") > cut)
            .then(pl.col("industry_l1").replace_strict(shifted))
            .otherwise(pl.col("industry_l1"))
            .alias("industry_l1")
        )
        # an industry that only exists after the cut: one stock moves into it
        mover = d.filter(pl.col("end_date").is_null() & (pl.col("start_date") <= cut)).row(
            0, named=True
        )
        switch = cut + dt.timedelta(days=7)
        d = d.with_columns(
            pl.when((pl.col("code") == mover["code"]) & pl.col("end_date").is_null())
            .then(pl.lit(switch - dt.timedelta(days=1)))
            .otherwise(pl.col("end_date"))
            .alias("end_date")
        )
        new = {**mover, "start_date": switch, "end_date": None}
        new["industry_l1"], new["industry_l2"] = "新行业", "新行业Ⅱ"
        return pl.concat([d, pl.DataFrame([new], schema=d.schema)])

    _rewrite(dst, "stock_industry", industries)
    return dst


DATED: dict[str, pl.Expr] = {
    "industry_weekly": pl.col("date") <= CUT,
    "industry_monthly": pl.col("date") <= CUT,
    "regimes": pl.col("date") <= CUT,
    "active_shares": pl.col("date") <= CUT,
    "issuance": pl.col("month") < CUT.replace(day=1),
    "signals": pl.col("date") <= CUT,
    "holdings": pl.col("end") <= CUT,
    "nav": pl.col("date") <= CUT,
}


@pytest.mark.parametrize("lag", [0, 1])
def test_nothing_up_to_the_cut_changes(tiny_market: Path, tmp_path: Path, lag: int) -> None:
    params = RotationParams(
        rebalance=5, trade_lag=lag, regression_window=30, min_regression_days=15
    )
    base = rotate(open_dataset(tiny_market), params)
    moved = rotate(open_dataset(perturb_after(tiny_market, tmp_path / "p", CUT)), params)
    for name, keep in DATED.items():
        a, b = base[name].filter(keep), moved[name].filter(keep)
        assert a.height > 0, f"{name} has no rows up to the cut: the test would prove nothing"
        assert_frame_equal(a, b, check_exact=False, rel_tol=1e-9, abs_tol=1e-12)
    # and the perturbation did reach the later rows (the test can fail)
    later = base["nav"].filter(pl.col("date") > CUT)["nav"].to_numpy()
    moved_later = moved["nav"].filter(pl.col("date") > CUT)["nav"].to_numpy()
    assert len(later) and not np.allclose(later, moved_later)
