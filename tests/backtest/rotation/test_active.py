"""Active funds vs ETFs (etfflow.backtest.rotation.active): hand cases, the synthetic market's
active funds, and point in time."""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etfflow.backtest.rotation.active import (
    active_fund_returns,
    active_share_table,
    disclosed_shares,
    divergence_terciles,
    industry_at,
    issuance_heat,
    simulated_shares,
    tercile_labels,
)
from etfflow.backtest.rotation.result import SCHEMAS
from etfflow.data_samples import generate_market
from etfflow.engine.loading import open_dataset
from etfflow.engine.market import load_market
from etfflow.exceptions import DataContractError, EtfflowError
from etfflow.factors.inputs import industry_returns
from tests.helpers import examples, weekdays

D = dt.date

#: Mean absolute error of the simulated active industry shares vs the disclosed full holdings,
#: as a fraction of the error of equal weights (tiny market, seed 0, report 2023-12-31,
#: regression over the 60 days to 2024-03-29). Measured 0.49 (MAE 0.0155 vs 0.0315; Pearson
#: correlation of the two mixes 0.83); the bound leaves room for generator changes. On the
#: ``small`` market (60 funds, mixes closer to uniform) the same check gives ratios 1.1-1.4 and
#: correlations 0.15-0.5: returns-based weights are only a rough proxy of the true mix.
RECOVERY_RATIO = 0.7
RECOVERY_CORR = 0.7


# ---------------------------------------------------------------------------------------------
# active_fund_returns


def test_active_fund_returns_by_hand() -> None:
    d = weekdays(4)
    nav = pl.DataFrame(
        {
            "date": [d[0], d[1], d[3], d[0], d[1], d[2], d[3]],
            "fund_code": ["A", "A", "A", "B", "B", "B", "B"],
            "nav": [1.0, 1.1, 1.21, 2.0, 2.2, None, 2.2],
        }
    ).with_columns(pl.col("fund_code").cast(pl.Categorical))
    r = active_fund_returns(nav, pl.Series(d))
    # day 1: A +10%, B +10%; day 2: A no NAV, B null; day 3: neither has NAV on day 2
    np.testing.assert_allclose(r, [np.nan, 0.1, np.nan, np.nan], equal_nan=True)
    # NAV rows outside the calendar's range are not read
    r2 = active_fund_returns(nav, pl.Series(d[1:3]))
    np.testing.assert_allclose(r2, [np.nan, np.nan], equal_nan=True)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda df: pl.concat([df, df.head(1)]), "duplicate"),
        (lambda df: df.with_columns(nav=pl.lit(-1.0)), "finite and > 0"),
        (
            lambda df: df.head(1).with_columns(date=pl.lit(D(2024, 1, 6))),
            "not in the trading calendar",
        ),
    ],
)
def test_active_fund_returns_bad_rows(edit, match) -> None:
    d = weekdays(5)  # 2024-01-01 .. 2024-01-05, then the weekend inside the range
    d = [*d, D(2024, 1, 8)]
    nav = pl.DataFrame({"date": d[:2], "fund_code": ["A", "A"], "nav": [1.0, 1.1]})
    with pytest.raises(DataContractError, match=match) as e:
        active_fund_returns(edit(nav), pl.Series(d))
    assert "fund_nav" in str(e.value)


# ---------------------------------------------------------------------------------------------
# industry_at / disclosed_shares


def _industry() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "code": ["a", "b", "c", "c"],
            "start_date": [D(2000, 1, 1), D(2000, 1, 1), D(2000, 1, 1), D(2024, 5, 1)],
            "end_date": [None, None, D(2024, 4, 30), None],
            "industry_l1": ["X", "Y", "X", "Z"],
        },
        schema_overrides={"end_date": pl.Date},
    )


def test_industry_at_is_as_of_and_end_inclusive() -> None:
    keys = pl.DataFrame(
        {
            "code": ["c", "c", "c", "a", "q"],
            "report_date": [
                D(2024, 4, 30),
                D(2024, 5, 1),
                D(1999, 1, 1),
                D(2024, 1, 1),
                D(2024, 1, 1),
            ],
            "extra": [1, 2, 3, 4, 5],
        }
    )
    out = industry_at(keys, _industry())
    assert out["industry"].to_list() == ["X", "Z", None, "X", None]
    assert out["extra"].to_list() == [1, 2, 3, 4, 5]
    overlap = pl.concat([_industry(), _industry().head(1).with_columns(industry_l1=pl.lit("W"))])
    with pytest.raises(DataContractError, match="two industries"):
        industry_at(keys, overlap)


def _holdings() -> pl.DataFrame:
    # report 2024-03-31: top holdings published 04-20, the rest 05-25 (a semi-annual-like
    # report); report 2024-06-30: top holdings published 07-19; stock c moves X -> Z on 05-01
    rows = [
        (D(2024, 3, 31), "f", "a", D(2024, 4, 20), 6.0),
        (D(2024, 3, 31), "g", "c", D(2024, 4, 20), 2.0),
        (D(2024, 3, 31), "f", "b", D(2024, 5, 25), 2.0),
        (D(2024, 6, 30), "f", "c", D(2024, 7, 19), 1.0),
        (D(2024, 6, 30), "g", "b", D(2024, 7, 19), 3.0),
    ]
    return pl.DataFrame(
        rows, schema=["report_date", "fund_code", "code", "disclose_date", "mv"], orient="row"
    )


MONTHS = pl.Series(
    [
        D(2024, m, d)
        for m, d in ((3, 29), (4, 30), (5, 31), (6, 28), (7, 31), (8, 30), (9, 30), (10, 31))
    ]
)


def test_disclosed_shares_by_hand() -> None:
    out = disclosed_shares(_holdings(), _industry(), MONTHS, ["X", "Y", "Z"], disclosure_months=2)
    nan = [np.nan] * 3
    expected = [
        nan,  # nothing published yet
        [1.0, 0.0, 0.0],  # 03-31 top rows: a (X) 6 + c (X on 03-31) 2
        [0.8, 0.2, 0.0],  # + b (Y) 2, published 05-25
        [0.8, 0.2, 0.0],  # in force until 07-25
        [0.0, 0.75, 0.25],  # 06-30 report: c is Z by then, b is Y
        [0.0, 0.75, 0.25],
        nan,  # 09-30 > 07-19 + 2 months
        nan,
    ]
    np.testing.assert_allclose(out.shares, expected, equal_nan=True)
    assert [str(x) for x in out.report_date] == [
        "NaT",
        "2024-03-31",
        "2024-03-31",
        "2024-03-31",
        "2024-06-30",
        "2024-06-30",
        "NaT",
        "NaT",
    ]
    assert str(out.publication[2]) == "2024-05-25"
    assert out.n_unclassified == 0
    # disclosure_months = 0: in force in the publication month only when m <= publication
    zero = disclosed_shares(_holdings(), _industry(), MONTHS, ["X", "Y", "Z"], disclosure_months=0)
    assert np.isfinite(zero.shares).any(axis=1).tolist() == [False] * 8


def test_disclosed_shares_fund_weighting() -> None:
    out = disclosed_shares(_holdings(), _industry(), MONTHS[2:3], ["X", "Y", "Z"], weighting="fund")
    # fund f: a 6 (X) + b 2 (Y) -> (0.75, 0.25, 0); fund g: c 2 (X) -> (1, 0, 0); mean of the two
    np.testing.assert_allclose(out.shares, [[0.875, 0.125, 0.0]])


def test_unclassified_holdings_are_counted_and_logged(caplog) -> None:
    h = pl.concat(
        [_holdings(), _holdings().head(1).with_columns(code=pl.lit("zz"), mv=pl.lit(4.0))]
    )
    with caplog.at_level(logging.WARNING, logger="etfflow.backtest.rotation.active"):
        out = disclosed_shares(h, _industry(), MONTHS, ["X", "Y", "Z"])
    assert out.n_unclassified == 1 and out.unclassified_mv == 4.0
    assert "1 row(s)" in caplog.text and "zz" in caplog.text
    ref = disclosed_shares(_holdings(), _industry(), MONTHS, ["X", "Y", "Z"])
    np.testing.assert_allclose(out.shares, ref.shares, equal_nan=True)


def test_disclosed_shares_bad_input() -> None:
    with pytest.raises(DataContractError, match="not among the industries"):
        disclosed_shares(_holdings(), _industry(), MONTHS, ["X", "Y"])
    with pytest.raises(DataContractError, match="mv"):
        disclosed_shares(_holdings().with_columns(mv=pl.lit(-1.0)), _industry(), MONTHS, ["X"])
    with pytest.raises(DataContractError, match="disclose_date"):
        disclosed_shares(_holdings().drop("disclose_date"), _industry(), MONTHS, ["X"])
    with pytest.raises(EtfflowError, match="strictly increasing"):
        disclosed_shares(_holdings(), _industry(), MONTHS.reverse(), ["X", "Y", "Z"])


# ---------------------------------------------------------------------------------------------
# simulated_shares


def test_simulated_shares_nan_handling() -> None:
    rng = np.random.default_rng(5)
    ret = rng.normal(0.0, 0.01, (50, 4))
    w0 = np.array([0.2, 0.0, 0.5, 0.3])
    y = ret @ w0
    ret[10, 1] = np.nan  # industry 1 missing inside the first window only: weight 0 there
    y[45] = np.nan  # a day without active return: dropped
    out = simulated_shares(ret, y, np.array([5, 29, 49]), window=20, min_days=19)
    assert np.isnan(out[0]).all()  # 6 days < min_days
    np.testing.assert_allclose(out[1], w0, atol=1e-8)
    assert out[1, 1] == 0.0
    np.testing.assert_allclose(out[2], w0, atol=1e-8)
    # one more NaN active day in the last window leaves 18 < 19 usable days
    y[40] = np.nan
    assert np.isnan(simulated_shares(ret, y, np.array([49]), window=20, min_days=19)).all()


def test_simulated_shares_bad_input() -> None:
    with pytest.raises(EtfflowError, match="month_pos"):
        simulated_shares(np.zeros((5, 2)), np.zeros(5), np.array([5]), window=3, min_days=2)
    with pytest.raises(EtfflowError, match="min_days"):
        simulated_shares(np.zeros((5, 2)), np.zeros(5), np.array([4]), window=3, min_days=4)
    with pytest.raises(EtfflowError, match="active_ret"):
        simulated_shares(np.zeros((5, 2)), np.zeros(4), np.array([4]), window=3, min_days=2)


# ---------------------------------------------------------------------------------------------
# active_share_table


def test_active_share_table() -> None:
    dates = pl.Series([D(2024, 1, 31), D(2024, 2, 29), D(2024, 3, 29)])
    etf = np.array([[0.6, 0.4], [0.5, 0.5], [np.nan, np.nan]])
    disc = np.array([[np.nan, np.nan], [0.2, 0.8], [np.nan, np.nan]])
    sim = np.array([[0.5, 0.5], [0.9, 0.1], [np.nan, np.nan]])
    t = active_share_table(dates, ["X", "Y"], etf, disc, sim)
    assert t.schema == SCHEMAS["active_shares"]
    assert t["source"].to_list() == ["simulated"] * 2 + ["disclosed"] * 2 + [None] * 2
    assert t["active_share"].to_list()[:4] == [0.5, 0.5, 0.2, 0.8]
    np.testing.assert_allclose(t["divergence"].to_numpy()[:4], [0.1, -0.1, 0.3, -0.3])
    assert t["divergence"][4] is None and t["etf_share"][5] is None
    with pytest.raises(EtfflowError, match="etf_share"):
        active_share_table(dates, ["X"], etf, disc, sim)


# ---------------------------------------------------------------------------------------------
# issuance_heat


def _issuance(values: dict[D, tuple[float, float]]) -> pl.DataFrame:
    rows = [(m, k, v) for m, (e, a) in values.items() for k, v in (("etf", e), ("active", a))]
    return pl.DataFrame(rows, schema=["month", "kind", "new_shares"], orient="row")


def test_issuance_heat_by_hand() -> None:
    iss = _issuance(
        {
            D(2024, 1, 1): (10.0, 20.0),
            D(2024, 2, 1): (20.0, 10.0),  # etf +100%, active -50%: heat 1.5
            D(2024, 3, 1): (0.0, 15.0),  # etf -100%, active +50%: heat -1.5
            D(2024, 4, 1): (5.0, 15.0),  # etf from 0: change undefined
            D(2024, 6, 1): (5.0, 15.0),  # May missing: unknown, not zero
        }
    )
    months = pl.Series([D(2024, m, d) for m, d in ((2, 29), (3, 29), (4, 30), (5, 31), (6, 28))])
    t = issuance_heat(iss, months)
    assert t.schema == SCHEMAS["issuance"]
    assert t["month"].to_list() == [D(2024, m, 1) for m in (2, 3, 4, 5, 6)]
    assert t["etf_new"].to_list() == [20.0, 0.0, 5.0, None, 5.0]
    np.testing.assert_allclose(t["etf_change"].to_numpy()[:2], [1.0, -1.0])
    np.testing.assert_allclose(t["active_change"].to_numpy()[:3], [-0.5, 0.5, 0.0])
    assert t["heat"].to_list()[2:] == [None, None, None]
    np.testing.assert_allclose(t["heat"].to_numpy()[:2], [1.5, -1.5])
    assert t["hot"].to_list() == [True, False, None, None, None]


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda df: df.with_columns(kind=pl.lit("bond")), "kind"),
        (lambda df: df.with_columns(month=pl.lit(D(2024, 1, 2))), "first day"),
        (lambda df: pl.concat([df, df.head(1)]), "duplicate"),
        (lambda df: df.with_columns(new_shares=pl.lit(float("nan"))), "finite"),
    ],
)
def test_issuance_bad_rows(edit, match) -> None:
    iss = _issuance({D(2024, 1, 1): (1.0, 2.0)})
    with pytest.raises(DataContractError, match=match) as e:
        issuance_heat(edit(iss), pl.Series([D(2024, 1, 31)]))
    assert "fund_issuance" in str(e.value)


# ---------------------------------------------------------------------------------------------
# divergence_terciles


def test_divergence_terciles_by_hand(caplog) -> None:
    nan = np.nan
    div = np.array(
        [
            [0.3, 0.2, 0.1, -0.1, -0.2, -0.3, 0.0],
            [0.1, 0.2, 0.3, -0.3, 0.5, nan, -0.1],  # negative side has 2 < 3: skipped
        ]
    )
    fwd = np.array(
        [
            [0.06, 0.03, 0.00, 0.00, -0.03, -0.06, 0.07],  # benchmark 0.01
            [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07],  # benchmark 0.04
        ]
    )
    with caplog.at_level(logging.INFO, logger="etfflow.backtest.rotation.active"):
        t = divergence_terciles(div, fwd, terciles=3)
    assert t.schema == SCHEMAS["divergence_groups"]
    assert t["side"].to_list() == ["positive"] * 3 + ["negative"] * 3
    assert t["tercile"].to_list() == [1, 2, 3, 1, 2, 3]
    # positive month 0: 0.1 -> 0.00, 0.2 -> 0.03, 0.3 -> 0.06
    # positive month 1 (0.1, 0.2, 0.3, 0.5): labels 1, 1, 2, 3 -> 0.015, 0.03, 0.05
    np.testing.assert_allclose(t["mean_return"].to_numpy()[:3], [0.0075, 0.03, 0.055])
    np.testing.assert_allclose(t["excess_return"].to_numpy()[:3], [-0.0175, 0.005, 0.03])
    np.testing.assert_allclose(t["win_rate"].to_numpy()[:3], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(t["annual_return"][1], 1.03**12 - 1)
    assert t["n_months"].to_list() == [2, 2, 2, 1, 1, 1]
    np.testing.assert_allclose(t["mean_return"].to_numpy()[3:], [-0.06, -0.03, 0.0])
    assert "'negative': 1" in caplog.text


def test_divergence_terciles_empty_groups_are_null() -> None:
    t = divergence_terciles(np.full((2, 3), np.nan), np.zeros((2, 3)))
    assert t["n_months"].to_list() == [0] * 6
    assert t["mean_return"].null_count() == 6
    with pytest.raises(EtfflowError, match="shape"):
        divergence_terciles(np.zeros((2, 3)), np.zeros((2, 4)))


@settings(max_examples=examples(100))
@given(
    x=st.lists(
        st.floats(-1, 1, allow_nan=False, allow_subnormal=False),
        min_size=1,
        max_size=40,
        unique=True,
    ),
    g=st.integers(1, 6),
)
def test_tercile_labels_match_pandas_qcut(x, g) -> None:
    pd = pytest.importorskip("pandas", reason="pandas is the qcut oracle")
    if len(x) < g:
        return
    want = pd.qcut(pd.Series(x), g, labels=False) + 1
    assert tercile_labels(np.array(x), g).tolist() == want.tolist()


# ---------------------------------------------------------------------------------------------
# the synthetic market


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = generate_market(tmp_path_factory.mktemp("rot_active") / "tiny", size="tiny", seed=0)
    ds = open_dataset(root)
    market = load_market(ds)
    ret, labels = industry_returns(market, "industry_l1")
    dates = market.calendar.dates
    d = dates.to_numpy().astype("datetime64[M]")
    month_pos = np.flatnonzero(np.r_[d[1:] != d[:-1], True])
    return {
        "dates": dates,
        "ret": ret,
        "labels": labels,
        "month_pos": month_pos,
        "months": dates.gather(month_pos),
        "fund_nav": ds.frame("fund_nav").collect(),
        "holdings": ds.frame("active_holdings").collect(),
        "stock_industry": ds.frame("stock_industry").collect(),
        "issuance": ds.frame("fund_issuance").collect(),
    }


def test_simulated_shares_recover_the_disclosed_mix(tiny) -> None:
    h = tiny["holdings"]
    report = D(2023, 12, 31)
    assert h.filter(pl.col("report_date") == report)["is_full"].any()
    # the whole report (top-10 and the rest) as of its last publication
    truth = disclosed_shares(
        h.filter(pl.col("report_date") == report),
        tiny["stock_industry"],
        pl.Series([h["disclose_date"].max()]),
        tiny["labels"],
        disclosure_months=12,
    ).shares[0]
    # the portfolio reported at 12-31 is held through Q1: regress over the 60 days to 03-29
    pos = tiny["month_pos"][tiny["months"].to_numpy() == np.datetime64("2024-03-29")]
    ar = active_fund_returns(tiny["fund_nav"], tiny["dates"])
    w = simulated_shares(tiny["ret"], ar, pos, window=60, min_days=20)[0]
    mae = np.abs(w - truth).mean()
    mae_uniform = np.abs(1.0 / len(truth) - truth).mean()
    assert mae < RECOVERY_RATIO * mae_uniform, (mae, mae_uniform)
    assert np.corrcoef(w, truth)[0, 1] > RECOVERY_CORR


def test_known_answer_on_market_industry_returns(tiny) -> None:
    ret = tiny["ret"]
    ok = np.flatnonzero(np.isfinite(ret[1:]).all(axis=0))
    rng = np.random.default_rng(2)
    w0 = np.zeros(ret.shape[1])
    w0[ok[:8]] = rng.dirichlet(np.ones(8))
    y = np.nansum(ret * w0, axis=1)
    y[0] = np.nan
    out = simulated_shares(ret, y, tiny["month_pos"][2:], window=60, min_days=20)
    np.testing.assert_allclose(out, np.broadcast_to(w0, out.shape), atol=1e-8)


def _perturb_after(t: dict, cut: D, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    p = dict(t)
    nav = t["fund_nav"]
    p["fund_nav"] = nav.with_columns(
        nav=pl.when(pl.col("date") > cut)
        .then(pl.col("nav") * pl.Series(rng.uniform(0.5, 1.5, nav.height)))
        .otherwise(pl.col("nav"))
    )
    ret = t["ret"].copy()
    after = t["dates"].to_numpy() > np.datetime64(cut)
    ret[after] = rng.normal(0, 0.05, (after.sum(), ret.shape[1]))
    p["ret"] = ret
    h = t["holdings"]
    late = h.filter(pl.col("disclose_date") > cut)
    fake = h.head(5).with_columns(
        report_date=pl.lit(cut), disclose_date=pl.lit(cut + dt.timedelta(days=1))
    )
    p["holdings"] = pl.concat(
        [
            h.filter(pl.col("disclose_date") <= cut),
            late.with_columns(mv=pl.col("mv") * 7.0).sample(fraction=0.5, seed=seed),
            fake,
        ]
    )
    iss = t["issuance"]
    p["issuance"] = iss.with_columns(
        new_shares=pl.when(pl.col("month") > cut)
        .then(pl.col("new_shares") * 3.0 + 1.0)
        .otherwise(pl.col("new_shares"))
    )
    return p


def _outputs(t: dict) -> dict:
    ar = active_fund_returns(t["fund_nav"], t["dates"])
    disc = disclosed_shares(t["holdings"], t["stock_industry"], t["months"], t["labels"])
    sim = simulated_shares(t["ret"], ar, t["month_pos"], window=60, min_days=20)
    etf = np.full(sim.shape, 1.0 / sim.shape[1])
    return {
        "active_ret": ar,
        "disclosed": disc.shares,
        "report_date": disc.report_date,
        "simulated": sim,
        "table": active_share_table(t["months"], t["labels"], etf, disc.shares, sim),
        "issuance": issuance_heat(t["issuance"], t["months"]),
    }


@pytest.mark.parametrize("cut", [D(2023, 12, 29), D(2024, 1, 31), D(2024, 3, 15)])
def test_point_in_time(tiny, cut) -> None:
    base = _outputs(tiny)
    pert = _outputs(_perturb_after(tiny, cut, seed=cut.toordinal()))
    day = tiny["dates"].to_numpy() <= np.datetime64(cut)
    mon = tiny["months"].to_numpy() <= np.datetime64(cut)
    np.testing.assert_array_equal(base["active_ret"][day], pert["active_ret"][day])
    for k in ("disclosed", "report_date", "simulated"):
        np.testing.assert_array_equal(base[k][mon], pert[k][mon])
    m = pl.col("date") <= cut
    assert base["table"].filter(m).equals(pert["table"].filter(m))
    mi = pl.col("month") <= cut
    assert base["issuance"].filter(mi).equals(pert["issuance"].filter(mi))
    # and the perturbation is felt after the cut (the test can fail)
    assert not np.array_equal(base["simulated"][~mon], pert["simulated"][~mon], equal_nan=True)
    assert not base["issuance"].equals(pert["issuance"])


# ---------------------------------------------------------------------------------------------
# plain-Python references (tests only), compared by hypothesis


def _add_months(d: D, k: int) -> D:
    """``d`` plus ``k`` calendar months, the day clamped to the month's end (Polars ``mo``)."""
    import calendar

    y, m = divmod(d.month - 1 + k, 12)
    y, m = d.year + y, m + 1
    return D(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def _industry_ref(si: list[dict], code: str, day: D) -> str | None:
    hits = [
        r["industry_l1"]
        for r in si
        if r["code"] == code
        and r["start_date"] <= day
        and (r["end_date"] is None or r["end_date"] >= day)
    ]
    return hits[0] if hits else None


def _disclosed_ref(rows, si, months, labels, k, weighting) -> tuple[list, list]:
    shares, reports = [], []
    for m in months:
        pub = [r for r in rows if r["disclose_date"] <= m]
        row = [float("nan")] * len(labels)
        rep = None
        if pub:
            rd = max(r["report_date"] for r in pub)
            rs = [r for r in pub if r["report_date"] == rd]
            if m <= _add_months(max(r["disclose_date"] for r in rs), k):
                rep = rd
                funds: dict[str, dict[str, float]] = {}
                for r in rs:
                    ind = _industry_ref(si, r["code"], rd)
                    if ind is not None:
                        key = r["fund_code"] if weighting == "fund" else "all"
                        f = funds.setdefault(key, dict.fromkeys(labels, 0.0))
                        f[ind] += r["mv"]
                mixes = [
                    [f[x] / sum(f.values()) for x in labels]
                    for f in funds.values()
                    if sum(f.values()) > 0
                ]
                if mixes:
                    row = [sum(c) / len(mixes) for c in zip(*mixes, strict=True)]
        shares.append(row)
        reports.append(rep)
    return shares, reports


_REPORTS = [D(2023, 12, 31), D(2024, 3, 31), D(2024, 6, 30), D(2024, 9, 30)]
_MONTH_ENDS = [_add_months(D(2024, 1, 31), i) for i in range(12)]
_SI = [
    {"code": "a", "start_date": D(2000, 1, 1), "end_date": None, "industry_l1": "X"},
    {"code": "b", "start_date": D(2000, 1, 1), "end_date": D(2024, 3, 31), "industry_l1": "Y"},
    {"code": "b", "start_date": D(2024, 4, 1), "end_date": None, "industry_l1": "Z"},
    {"code": "c", "start_date": D(2024, 6, 1), "end_date": None, "industry_l1": "Y"},
    {"code": "d", "start_date": D(2000, 1, 1), "end_date": None, "industry_l1": "Z"},
]  # c has no industry before 2024-06-01; e never has one


@settings(max_examples=examples(150))
@given(
    raw=st.lists(
        st.tuples(
            st.integers(0, 3),  # report
            st.sampled_from(["f1", "f2", "f3"]),
            st.sampled_from(["a", "b", "c", "d", "e"]),
            st.integers(0, 100),  # publication lag, calendar days
            st.sampled_from([0.0, 1.0, 2.5, 10.0, 123.0]),
        ),
        max_size=25,
    ),
    k=st.integers(0, 3),
    weighting=st.sampled_from(["mv", "fund"]),
)
def test_disclosed_shares_match_the_plain_reference(raw, k, weighting) -> None:
    rows = [
        {
            "report_date": _REPORTS[r],
            "fund_code": f,
            "code": c,
            "disclose_date": _REPORTS[r] + dt.timedelta(days=lag),
            "mv": mv,
        }
        for r, f, c, lag, mv in raw
    ]
    schema = {
        "report_date": pl.Date,
        "fund_code": pl.String,
        "code": pl.String,
        "disclose_date": pl.Date,
        "mv": pl.Float64,
    }
    si = pl.DataFrame(_SI, schema_overrides={"end_date": pl.Date})
    labels = ["X", "Y", "Z"]
    out = disclosed_shares(
        pl.DataFrame(rows, schema=schema),
        si,
        pl.Series(_MONTH_ENDS),
        labels,
        disclosure_months=k,
        weighting=weighting,
    )
    want, reports = _disclosed_ref(rows, _SI, _MONTH_ENDS, labels, k, weighting)
    np.testing.assert_allclose(
        out.shares, np.array(want).reshape(-1, 3), rtol=1e-12, equal_nan=True
    )
    got = [None if np.isnat(x) else x.astype(dt.date) for x in out.report_date]
    assert got == reports
    lost = [r for r in rows if _industry_ref(_SI, r["code"], r["report_date"]) is None]
    assert out.n_unclassified == len(lost)


def _terciles_ref(div, fwd, g) -> dict[tuple[str, int], list[tuple[float, float]]]:
    pd = pytest.importorskip("pandas", reason="pandas is the qcut oracle")
    out: dict[tuple[str, int], list[tuple[float, float]]] = {
        (s, q): [] for s in ("positive", "negative") for q in range(1, g + 1)
    }
    for m in range(div.shape[0]):
        ok = [i for i in range(div.shape[1]) if np.isfinite(fwd[m, i])]
        if not ok:
            continue
        bench = sum(fwd[m, i] for i in ok) / len(ok)
        for side, sign in (("positive", 1), ("negative", -1)):
            cols = [i for i in ok if np.isfinite(div[m, i]) and sign * div[m, i] > 0]
            if len(cols) < g or not cols:
                continue
            labs = pd.qcut(
                pd.Series([div[m, i] for i in cols]).rank(method="average"), g, labels=False
            )
            for q in range(g):
                member = [fwd[m, c] for c, lab in zip(cols, labs, strict=True) if lab == q]
                out[(side, q + 1)].append((sum(member) / len(member), bench))
    return out


@settings(max_examples=examples(100))
@given(
    seed=st.integers(0, 2**32 - 1),
    m=st.integers(1, 8),
    n=st.integers(1, 12),
    g=st.integers(1, 4),
)
def test_divergence_terciles_match_the_plain_reference(seed, m, n, g) -> None:
    rng = np.random.default_rng(seed)
    div = rng.normal(0.0, 0.05, (m, n))
    div[rng.random((m, n)) < 0.1] = np.nan
    div[rng.random((m, n)) < 0.05] = 0.0
    fwd = rng.normal(0.0, 0.05, (m, n))
    fwd[rng.random((m, n)) < 0.1] = np.nan
    t = divergence_terciles(div, fwd, terciles=g)
    ref = _terciles_ref(div, fwd, g)
    for row in t.iter_rows(named=True):
        pairs = np.array(ref[(row["side"], row["tercile"])]).reshape(-1, 2)
        assert row["n_months"] == len(pairs)
        if len(pairs):
            np.testing.assert_allclose(row["mean_return"], pairs[:, 0].mean(), rtol=1e-12)
            np.testing.assert_allclose(
                row["excess_return"], (pairs[:, 0] - pairs[:, 1]).mean(), rtol=1e-9, atol=1e-15
            )
            assert row["win_rate"] == (pairs[:, 0] > pairs[:, 1]).mean()
        else:
            assert row["mean_return"] is None
