"""passive_beta across stocks and its R² (Huaan 2024-12 table 55): the factor's own values, R²
against a plain least-squares loop, point in time, and ``etfflow factors beta``."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

import etfflow as ef
from etfflow.cli import app
from etfflow.factors.beta_profile import passive_beta_profile
from etfflow.factors.definitions import passive_growth


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = ef.generate_market(tmp_path_factory.mktemp("beta") / "m", size="tiny", seed=4)
    ds = ef.open_dataset(folder)
    lt, market = ef.look_through(ds), ef.load_market(ds)
    return folder, market, lt, ef.stock_inputs(market, lt.stocks)


def ols_reference(y: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    """Beta and R² of y on x with an intercept, on the rows where both are finite."""
    ok = np.isfinite(y) & np.isfinite(x)
    y, x = y[ok], x[ok]
    a = np.column_stack([np.ones(len(x)), x])
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    resid = y - a @ coef
    tss = ((y - y.mean()) ** 2).sum()
    return float(coef[1]), float(1.0 - (resid**2).sum() / tss) if tss > 0 else float("nan")


def test_beta_is_the_factor_and_r2_matches_least_squares(inputs) -> None:
    _folder, _market, _lt, x = inputs
    day = x.calendar.dates[100]
    prof = passive_beta_profile(x, 20, day)
    assert prof.date == day and prof.table.height > 10
    fs = ef.compute_factors(x, "passive_beta_20")
    col = {c: i for i, c in enumerate(x.names)}
    g = passive_growth(x)
    for code, beta, r2 in prof.table.iter_rows():
        i = col[code]
        assert beta == fs.values["passive_beta_20"][100, i]
        b_ref, r2_ref = ols_reference(x["ret"][81:101, i], g[81:101, i])
        assert beta == pytest.approx(b_ref, rel=1e-8, abs=1e-12)
        if r2 is not None:
            assert r2 == pytest.approx(r2_ref, rel=1e-8, abs=1e-12)
    s = prof.summary
    assert s["n_stocks"] == prof.table.height
    assert s["mean_beta"] == pytest.approx(prof.table["beta"].mean())
    assert prof.histogram(10)["n"].sum() == prof.table.height


def test_profile_of_a_day_ignores_later_data(inputs) -> None:
    _folder, market, lt, x = inputs
    day = x.calendar.dates[90]
    rng = np.random.default_rng(0)
    ret = market.ret.copy()
    ret[91:] = rng.normal(0, 0.05, ret[91:].shape)
    later = pl.col("date") > day
    stocks = lt.stocks.with_columns(
        pl.when(later).then(pl.col("mv_passive") * 3.0).otherwise(pl.col("mv_passive"))
    )
    y = ef.stock_inputs(dataclasses.replace(market, ret=ret), stocks)
    a, b = passive_beta_profile(x, 20, day), passive_beta_profile(y, 20, day)
    assert a.table.equals(b.table) and a.summary == b.summary
    assert not passive_beta_profile(x, 20).table.equals(passive_beta_profile(y, 20).table)


def test_factors_beta_command(inputs, tmp_path) -> None:
    folder, *_ = inputs
    out, page = tmp_path / "b.parquet", tmp_path / "b.html"
    r = CliRunner().invoke(
        app, ["factors", "beta", str(folder), "--export", str(out), "--html", str(page)]
    )
    assert r.exit_code == 0, r.output
    assert "mean_r2" in r.stdout and "share_positive" in r.stdout
    assert pl.read_parquet(out).columns == ["code", "beta", "r2"]
    text = page.read_text(encoding="utf-8")
    assert "<svg" in text and "<script" not in text
    r = CliRunner().invoke(app, ["factors", "beta", str(folder), "--date", "31/05/2024"])
    assert r.exit_code == 1 and "YYYY-MM-DD" in r.stderr
    r = CliRunner().invoke(app, ["factors", "beta", str(folder), "--date", "1999-01-04"])
    assert r.exit_code == 1 and "before the data's first day" in r.stderr
    assert dt.date(1999, 1, 4)  # the date the message refers to
