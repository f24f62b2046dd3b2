"""Active equity funds vs ETFs: industry shares, their divergence and the issuance heat.

The Huafu 2026-02 report compares the industry mix of ETF holdings with that of
active equity funds. Active funds' mix comes from their disclosures while one is recent
(:func:`disclosed_shares`) and otherwise from a regression of the active-fund index return on
industry returns with weights on the simplex (:func:`simulated_shares`,
:func:`etfflow.backtest.rotation.lsq.simplex_lstsq`). :func:`active_share_table` merges the two
with the ETF shares; :func:`issuance_heat` and :func:`divergence_terciles` give the issuance
signal and the report's divergence groups. Everything is point in time: a value dated ``t``
uses fund NAVs and industry returns up to ``t``, disclosures published by ``t`` and the
issuance of months ending by ``t``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from etfflow.backtest.engine import qcut_groups
from etfflow.backtest.rotation.lsq import simplex_lstsq
from etfflow.backtest.rotation.result import SCHEMAS
from etfflow.exceptions import DataContractError, EtfflowError

__all__ = [
    "DisclosedShares",
    "active_fund_returns",
    "active_share_table",
    "disclosed_shares",
    "divergence_terciles",
    "industry_at",
    "issuance_heat",
    "simulated_shares",
    "tercile_labels",
]

log = logging.getLogger(__name__)

SIDES = ("positive", "negative")


def _require(df: pl.DataFrame, table: str, cols: Sequence[str]) -> None:
    for c in cols:
        if c not in df.columns:
            raise DataContractError.missing_column(table=table, column=c, available=df.columns)


def _calendar(dates: pl.Series | Sequence[object], what: str) -> pl.DataFrame:
    """``(date, pos)`` of strictly increasing dates; an EtfflowError names the first bad pair."""
    s = pl.Series("date", dates).cast(pl.Date)
    if s.null_count():
        raise EtfflowError(f"{what}: dates must not be null ({s.null_count()} null)")
    d = s.to_numpy()
    bad = np.flatnonzero(d[1:] <= d[:-1])
    if len(bad):
        i = int(bad[0]) + 1
        raise EtfflowError(
            f"{what}: dates must be strictly increasing, got {s[i - 1]} then {s[i]} at position {i}"
        )
    return pl.DataFrame([s]).with_row_index("pos")


def active_fund_returns(fund_nav: pl.DataFrame, dates: pl.Series) -> np.ndarray:
    """Equal-weighted daily return of the active funds: the active-fund index.

    Parameters
    ----------
    fund_nav
        Table ``fund_nav``: ``date`` (Date), ``fund_code`` (String or Categorical), ``nav``
        (unit NAV, CNY; null = no NAV that day).
    dates
        The trading calendar ``(T,)``, strictly increasing.

    Returns
    -------
    numpy.ndarray
        ``(T,)`` decimal daily returns; NaN where no fund has a NAV on both ``t`` and ``t-1``.

    Raises
    ------
    DataContractError
        A missing column, a duplicate ``(date, fund_code)``, a NAV that is not finite and
        positive, or a NAV dated inside the calendar's range on a day not in the calendar.

    Notes
    -----
    ``r[t] = mean_f (nav[f,t] / nav[f,t-1] - 1)`` over the funds with a NAV on ``t`` and on the
    previous calendar day ``t-1`` (so ``r`` is NaN on the first calendar day). NAV rows dated
    before the first or after the last calendar day are outside the period and not read.

    Examples
    --------
    >>> import datetime as dt
    >>> import polars as pl
    >>> d = [dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 1, 4)]
    >>> nav = pl.DataFrame({"date": [d[0], d[1], d[2], d[1], d[2]],
    ...                     "fund_code": ["A", "A", "A", "B", "B"],
    ...                     "nav": [1.0, 1.1, 1.21, 2.0, 2.4]})
    >>> active_fund_returns(nav, pl.Series(d)).round(12).tolist()
    [nan, 0.1, 0.15]
    """
    _require(fund_nav, "fund_nav", ("date", "fund_code", "nav"))
    cal = _calendar(dates, "active_fund_returns calendar")
    t = cal.height
    out = np.full(t, np.nan)
    if t == 0:
        return out
    nav = fund_nav.select(
        pl.col("date").cast(pl.Date), pl.col("fund_code").cast(pl.String), pl.col("nav")
    ).filter(pl.col("date").is_between(cal["date"][0], cal["date"][-1]))
    dup = nav.filter(pl.struct("date", "fund_code").is_duplicated())
    if dup.height:
        raise DataContractError(
            "duplicate (date, fund_code)", table="fund_nav", examples=dup, n_rows=dup.height
        )
    bad = nav.filter(
        pl.col("nav").is_not_null() & ~(pl.col("nav").is_finite() & (pl.col("nav") > 0))
    )
    if bad.height:
        raise DataContractError(
            "nav must be finite and > 0",
            table="fund_nav",
            column="nav",
            examples=bad,
            n_rows=bad.height,
        )
    j = nav.join(cal, on="date", how="left")
    off = j.filter(pl.col("pos").is_null())
    if off.height:
        raise DataContractError(
            "nav dated on a day that is not in the trading calendar",
            table="fund_nav",
            column="date",
            examples=off,
            n_rows=off.height,
            hint="fund NAVs are published on trading days only",
        )
    r = (
        j.drop_nulls("nav")
        .sort("fund_code", "pos")
        .with_columns(
            prev_pos=pl.col("pos").shift(1).over("fund_code"),
            prev_nav=pl.col("nav").shift(1).over("fund_code"),
        )
        .filter(pl.col("prev_pos") == pl.col("pos") - 1)
        .group_by("pos")
        .agg((pl.col("nav") / pl.col("prev_nav") - 1.0).mean().alias("ret"))
    )
    out[r["pos"].to_numpy()] = r["ret"].to_numpy()
    return out


def industry_at(
    keys: pl.DataFrame, stock_industry: pl.DataFrame, *, level: str = "industry_l1"
) -> pl.DataFrame:
    """``keys`` (``code``, ``report_date``) with the stock's industry on that date.

    Parameters
    ----------
    keys
        Rows with ``code`` and ``report_date`` (other columns are kept).
    stock_industry
        Table ``stock_industry``: ``code``, ``start_date``, ``end_date`` (inclusive; null =
        still in force), and the ``level`` column.
    level
        ``"industry_l1"`` (CITIC level 1) or ``"industry_l2"``.

    Returns
    -------
    polars.DataFrame
        ``keys`` in the same order with a String column ``industry`` (null when the stock has
        no industry on ``report_date``).

    Raises
    ------
    DataContractError
        A missing column, or a stock with two industries on the same date.

    Notes
    -----
    As of ``report_date``: the row with ``start_date <= report_date`` and (``end_date`` null or
    ``end_date >= report_date``).

    Examples
    --------
    >>> import datetime as dt
    >>> import polars as pl
    >>> si = pl.DataFrame({"code": ["a", "a"], "start_date": [dt.date(2020, 1, 1),
    ...                    dt.date(2024, 3, 1)], "end_date": [dt.date(2024, 2, 29), None],
    ...                    "industry_l1": ["Banks", "Media"]})
    >>> keys = pl.DataFrame({"code": ["a", "a", "b"], "report_date": [dt.date(2023, 12, 31),
    ...                      dt.date(2024, 6, 30), dt.date(2024, 6, 30)]})
    >>> industry_at(keys, si)["industry"].to_list()
    ['Banks', 'Media', None]
    """
    if level not in ("industry_l1", "industry_l2"):
        raise EtfflowError(f"unknown industry level {level!r}: choose industry_l1 or industry_l2")
    _require(stock_industry, "stock_industry", ("code", "start_date", "end_date", level))
    k = keys.with_columns(pl.col("code").cast(pl.String)).with_row_index("_row")
    si = stock_industry.select(
        pl.col("code").cast(pl.String),
        pl.col("start_date").cast(pl.Date),
        pl.col("end_date").cast(pl.Date),
        pl.col(level).cast(pl.String).alias("industry"),
    )
    pairs = k.select("_row", "code", "report_date").unique("_row")
    hit = (
        pairs.join(si, on="code", how="inner")
        .filter(
            (pl.col("start_date") <= pl.col("report_date"))
            & (pl.col("end_date").is_null() | (pl.col("end_date") >= pl.col("report_date")))
        )
        .select("_row", "code", "report_date", "industry")
    )
    dup = hit.filter(pl.col("_row").is_duplicated())
    if dup.height:
        raise DataContractError(
            "a stock has two industries on the same date (overlapping start/end dates)",
            table="stock_industry",
            column=level,
            examples=dup.drop("_row").unique().sort("code", "report_date"),
            n_rows=dup.height,
        )
    return k.join(hit.select("_row", "industry"), on="_row", how="left").sort("_row").drop("_row")


@dataclass(frozen=True)
class DisclosedShares:
    """Active funds' disclosed industry shares per month-end (:func:`disclosed_shares`).

    Attributes
    ----------
    shares
        ``(M, I)`` industry shares of the disclosure in force (rows sum to 1); a row of NaN when
        none is in force.
    report_date, publication
        ``(M,)`` ``datetime64[D]``: the report in force and its publication (the latest
        ``disclose_date`` of its rows published by the month-end); NaT when none is in force.
    n_unclassified
        Holdings rows (of any report) whose stock has no industry on the report date; they
        are left out of the shares (counted here and logged).
    unclassified_mv
        Their total market value (CNY).
    """

    shares: np.ndarray
    report_date: np.ndarray
    publication: np.ndarray
    n_unclassified: int
    unclassified_mv: float


def disclosed_shares(
    active_holdings: pl.DataFrame,
    stock_industry: pl.DataFrame,
    month_dates: pl.Series,
    industries: Sequence[str],
    *,
    level: str = "industry_l1",
    disclosure_months: int = 2,
    weighting: str = "mv",
) -> DisclosedShares:
    """Industry shares of the active funds' latest disclosed holdings, while in force.

    Parameters
    ----------
    active_holdings
        Table ``active_holdings``: ``report_date``, ``fund_code``, ``code``, ``disclose_date``,
        ``mv`` (holding value at the report date, CNY).
    stock_industry
        Table ``stock_industry`` (see :func:`industry_at`).
    month_dates
        ``(M,)`` month-end trading days, strictly increasing.
    industries
        The ``I`` industry labels (columns of the result, e.g. sorted CITIC level-1 names).
    level
        ``"industry_l1"`` or ``"industry_l2"``.
    disclosure_months
        Calendar months a disclosure stays in force after its publication.
    weighting
        ``"mv"``: pooled, ``Σ mv by industry / Σ mv`` over all funds (整体法);
        ``"fund"``: each fund's industry shares, averaged with equal weights over the funds
        of the report (matches the equal-weighted :func:`active_fund_returns`).

    Returns
    -------
    DisclosedShares

    Raises
    ------
    DataContractError
        A missing column, a null date, an ``mv`` that is not finite and >= 0, or an industry
        of a held stock that is not in ``industries``.

    Notes
    -----
    At month-end ``m``: the rows published by ``m`` (``disclose_date <= m``) of the latest
    ``report_date`` that has any such row form the disclosure; its publication ``p`` is the
    latest ``disclose_date`` among them, and it is in force while ``m <= p +
    disclosure_months`` calendar months. A quarterly report (top-10 holdings ~15 trading days
    after the quarter end) is therefore used alone until the semi-annual full holdings of the
    same report date are published, which then join it. Each stock's industry is the one on
    the report date (point in time); rows without one still date the report and its
    publication but are left out of the shares (counted). A month with a disclosure in
    force but no classified value gets a NaN row.

    Examples
    --------
    >>> import datetime as dt
    >>> import polars as pl
    >>> D = dt.date
    >>> si = pl.DataFrame({"code": ["a", "b"], "start_date": [D(2000, 1, 1)] * 2,
    ...                    "end_date": [None, None], "industry_l1": ["X", "Y"]},
    ...                   schema_overrides={"end_date": pl.Date})
    >>> h = pl.DataFrame({"report_date": [D(2024, 3, 31)] * 2, "fund_code": ["f", "f"],
    ...                   "code": ["a", "b"], "disclose_date": [D(2024, 4, 20)] * 2,
    ...                   "mv": [3.0, 1.0]})
    >>> months = pl.Series([D(2024, 3, 29), D(2024, 4, 30), D(2024, 5, 31), D(2024, 6, 28)])
    >>> out = disclosed_shares(h, si, months, ["X", "Y"])
    >>> out.shares.tolist()
    [[nan, nan], [0.75, 0.25], [0.75, 0.25], [nan, nan]]
    >>> [str(d) for d in out.report_date]
    ['NaT', '2024-03-31', '2024-03-31', 'NaT']
    >>> out.publication[1]  # in force until 2024-06-20
    np.datetime64('2024-04-20')
    """
    if weighting not in ("mv", "fund"):
        raise EtfflowError(f"weighting must be 'mv' or 'fund', got {weighting!r}")
    if not isinstance(disclosure_months, int) or disclosure_months < 0:
        raise EtfflowError(f"disclosure_months must be an integer >= 0, got {disclosure_months!r}")
    cols = ("report_date", "fund_code", "code", "disclose_date", "mv")
    _require(active_holdings, "active_holdings", cols)
    hold = active_holdings.select(
        pl.col("report_date").cast(pl.Date),
        pl.col("fund_code").cast(pl.String),
        pl.col("code").cast(pl.String),
        pl.col("disclose_date").cast(pl.Date),
        pl.col("mv").cast(pl.Float64),
    )
    bad = hold.filter(
        pl.any_horizontal(pl.all().is_null()) | ~pl.col("mv").is_finite() | (pl.col("mv") < 0)
    )
    if bad.height:
        raise DataContractError(
            "null key/date or an mv that is not finite and >= 0",
            table="active_holdings",
            examples=bad,
            n_rows=bad.height,
        )
    months = _calendar(month_dates, "disclosed_shares month_dates").rename(
        {"date": "m", "pos": "mi"}
    )
    labels = list(industries)
    n_m, n_i = months.height, len(labels)
    shares = np.full((n_m, n_i), np.nan)
    rep = np.full(n_m, np.datetime64("NaT"), dtype="datetime64[D]")
    pub = rep.copy()

    hold = industry_at(hold, stock_industry, level=level)
    lost = hold.filter(pl.col("industry").is_null())
    if lost.height:
        log.warning(
            "active_holdings: %d row(s) (%.4g CNY) hold a stock without %s on the report "
            "date; left out of the disclosed shares, e.g. %s",
            lost.height,
            float(lost["mv"].sum()),
            level,
            lost.head(3).select("report_date", "fund_code", "code").to_dicts(),
        )
    unknown = hold.filter(pl.col("industry").is_not_null() & ~pl.col("industry").is_in(labels))
    if unknown.height:
        raise DataContractError(
            f"a held stock's {level} is not among the industries of the run",
            table="active_holdings",
            column="code",
            examples=unknown,
            n_rows=unknown.height,
            hint=f"industries: {', '.join(labels[:10])}{' …' if n_i > 10 else ''}",
        )
    result = DisclosedShares(shares, rep, pub, lost.height, float(lost["mv"].sum()))
    if hold.height == 0 or n_m == 0:
        return result

    # one row per (report, publication day, [fund,] industry): months x reports stays small
    per_fund = ["fund_code"] if weighting == "fund" else []
    hold = hold.group_by("report_date", "disclose_date", *per_fund, "industry").agg(
        pl.col("mv").sum()
    )
    # the report in force at each month-end and its publication
    first = hold.group_by("report_date").agg(pl.col("disclose_date").min().alias("first"))
    latest = (
        months.join(first, how="cross")
        .filter(pl.col("first") <= pl.col("m"))
        .group_by("mi", "m")
        .agg(pl.col("report_date").max())
    )
    keyed = latest.join(hold, on="report_date").filter(pl.col("disclose_date") <= pl.col("m"))
    active = (
        keyed.group_by("mi", "m", "report_date")
        .agg(pl.col("disclose_date").max().alias("pub"))
        .filter(pl.col("m") <= pl.col("pub").dt.offset_by(f"{disclosure_months}mo"))
    )
    # the report and its publication come from all its rows; the shares from classified ones
    rows = keyed.join(active.select("mi"), on="mi", how="semi").drop_nulls("industry")
    by = ["mi", "fund_code"] if weighting == "fund" else ["mi"]
    agg = (
        rows.group_by(*by, "industry")
        .agg(pl.col("mv").sum())
        .with_columns(share=pl.col("mv") / pl.col("mv").sum().over(by))
        .filter(pl.col("share").is_finite())  # a fund (month) with zero value has no mix
    )
    if weighting == "fund":
        agg = (
            agg.with_columns(nf=pl.col("fund_code").n_unique().over("mi"))
            .group_by("mi", "industry")
            .agg((pl.col("share").sum() / pl.col("nf").first()).alias("share"))
        )
    idx = {lab: i for i, lab in enumerate(labels)}
    mi = active["mi"].to_numpy()
    shares[mi] = 0.0
    shares[agg["mi"].to_numpy(), [idx[x] for x in agg["industry"]]] = agg["share"].to_numpy()
    empty = np.setdiff1d(mi, agg["mi"].to_numpy())
    shares[empty] = np.nan
    rep[mi] = active["report_date"].to_numpy()
    pub[mi] = active["pub"].to_numpy()
    return result


def simulated_shares(
    ret: np.ndarray,
    active_ret: np.ndarray,
    month_pos: np.ndarray,
    *,
    window: int = 60,
    min_days: int = 20,
) -> np.ndarray:
    """Active funds' industry weights from a regression on the simplex, per month-end.

    Parameters
    ----------
    ret
        ``(T, I)`` daily industry returns (decimal; NaN = no return).
    active_ret
        ``(T,)`` daily return of the active-fund index (:func:`active_fund_returns`).
    month_pos
        ``(M,)`` calendar positions of the month-ends (``0 <= pos < T``).
    window
        Trailing trading days of each regression (ending at the month-end, inclusive).
    min_days
        Fewest usable days; fewer gives a NaN row.

    Returns
    -------
    numpy.ndarray
        ``(M, I)`` weights ``>= 0`` summing to 1 per row, or a NaN row.

    Raises
    ------
    EtfflowError
        Shapes that do not match, a position outside ``[0, T)``, or ``min_days > window``.

    Notes
    -----
    For month-end position ``p``, days ``d = max(0, p-window+1) .. p``: days with a NaN
    active return are dropped; an industry with a NaN return on any remaining day gets weight
    0 (it is left out of the regression); then ``w = argmin ||R w - r_active||²`` s.t.
    ``w >= 0, Σw = 1`` (:func:`~etfflow.backtest.rotation.lsq.simplex_lstsq`). Fewer than
    ``min_days`` days or no usable industry gives NaN (Huafu 2026-02's simulated
    active-fund positions).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ret = rng.normal(0, 0.01, (40, 3))
    >>> w = simulated_shares(ret, ret @ [0.5, 0.0, 0.5], np.array([10, 39]),
    ...                      window=30, min_days=15)
    >>> np.isnan(w[0]).all(), np.round(w[1], 10).tolist()
    (np.True_, [0.5, 0.0, 0.5])
    """
    ret = np.asarray(ret, dtype=np.float64)
    y_all = np.asarray(active_ret, dtype=np.float64)
    pos = np.asarray(month_pos, dtype=np.int64)
    if ret.ndim != 2 or y_all.shape != (ret.shape[0],) or pos.ndim != 1:
        raise EtfflowError(
            f"simulated_shares needs ret (T, I), active_ret (T,) and month_pos (M,), got "
            f"{ret.shape}, {y_all.shape} and {pos.shape}"
        )
    t, n_i = ret.shape
    if len(pos) and (pos.min() < 0 or pos.max() >= t):
        raise EtfflowError(
            f"simulated_shares: month_pos must be in [0, {t}), got {pos.tolist()[:5]}"
        )
    if window < 1 or min_days > window:
        raise EtfflowError(
            f"simulated_shares: need window >= 1 and min_days <= window, got {window}, {min_days}"
        )
    out = np.full((len(pos), n_i), np.nan)
    for k, p in enumerate(pos):
        lo = max(0, int(p) - window + 1)
        y = y_all[lo : p + 1]
        x = ret[lo : p + 1]
        keep = np.isfinite(y)
        y, x = y[keep], x[keep]
        cols = np.flatnonzero(np.isfinite(x).all(axis=0))
        if len(y) < min_days or len(cols) == 0:
            continue
        out[k] = 0.0
        out[k, cols] = simplex_lstsq(x[:, cols], y)
    return out


def active_share_table(
    month_dates: pl.Series,
    industries: Sequence[str],
    etf_share: np.ndarray,
    disclosed: np.ndarray,
    simulated: np.ndarray,
) -> pl.DataFrame:
    """The monthly ``active_shares`` table: ETF vs active industry shares and divergence.

    Parameters
    ----------
    month_dates
        ``(M,)`` month-end trading days.
    industries
        ``I`` industry labels (columns of the arrays).
    etf_share
        ``(M, I)`` industry share of ETF holdings (NaN = none).
    disclosed
        ``(M, I)`` :attr:`DisclosedShares.shares` (a NaN row = no disclosure in force).
    simulated
        ``(M, I)`` :func:`simulated_shares`.

    Returns
    -------
    polars.DataFrame
        ``SCHEMAS["active_shares"]``, rows by date then industry; missing values are null.

    Notes
    -----
    ``active_share`` is the disclosed share when a disclosure is in force at the month-end
    (``source = "disclosed"``), else the simulated one (``"simulated"``; ``source`` null when
    neither exists). ``divergence = etf_share - active_share`` (Huafu 2026-02: positive = ETFs
    heavier in the industry).

    Examples
    --------
    >>> import datetime as dt
    >>> import numpy as np
    >>> import polars as pl
    >>> t = active_share_table(pl.Series([dt.date(2024, 1, 31)]), ["X", "Y"],
    ...     np.array([[0.6, 0.4]]), np.full((1, 2), np.nan), np.array([[0.5, 0.5]]))
    >>> t.select("industry", "source", "divergence").rows()
    [('X', 'simulated', 0.09999999999999998), ('Y', 'simulated', -0.09999999999999998)]
    """
    dates = pl.Series("date", month_dates).cast(pl.Date)
    m, n_i = dates.len(), len(industries)
    arrs = {
        "etf_share": np.asarray(etf_share, dtype=np.float64),
        "disclosed": np.asarray(disclosed, dtype=np.float64),
        "simulated": np.asarray(simulated, dtype=np.float64),
    }
    for name, a in arrs.items():
        if a.shape != (m, n_i):
            raise EtfflowError(f"active_share_table: {name} must be ({m}, {n_i}), got {a.shape}")
    has_d = np.asarray(np.isfinite(arrs["disclosed"]).any(axis=1))
    has_s = np.asarray(np.isfinite(arrs["simulated"]).any(axis=1))
    active = np.where(has_d[:, None], arrs["disclosed"], arrs["simulated"])
    source = [
        "disclosed" if d else "simulated" if s else None
        for d, s in zip(has_d.tolist(), has_s.tolist(), strict=True)
    ]
    df = pl.DataFrame(
        {
            "date": dates.gather(np.repeat(np.arange(m), n_i)),
            "industry": pl.Series(list(industries) * m, dtype=pl.String),
            "etf_share": arrs["etf_share"].ravel(),
            "active_share": active.ravel(),
            "source": pl.Series([x for x in source for _ in range(n_i)], dtype=pl.String),
            "divergence": (arrs["etf_share"] - active).ravel(),
        },
        schema=SCHEMAS["active_shares"],
    )
    return df.with_columns(pl.col(pl.Float64).fill_nan(None))


def issuance_heat(fund_issuance: pl.DataFrame, month_dates: pl.Series) -> pl.DataFrame:
    """Monthly new issuance of ETFs and active funds and the ETF issuance heat.

    Parameters
    ----------
    fund_issuance
        Table ``fund_issuance``: ``month`` (first day of the month), ``kind`` (``"etf"`` |
        ``"active"``), ``new_shares``.
    month_dates
        ``(M,)`` month-end trading days: one output row per month, known from that day.

    Returns
    -------
    polars.DataFrame
        ``SCHEMAS["issuance"]``: ``month`` (first day), ``etf_new``, ``active_new``,
        ``etf_change``, ``active_change``, ``heat``, ``hot``; nulls where undefined.

    Raises
    ------
    DataContractError
        A missing column, a ``kind`` other than etf/active, a ``month`` not on the first day,
        a duplicate ``(month, kind)``, or ``new_shares`` not finite and >= 0.

    Notes
    -----
    ``change_M = x_M / x_{M-1} - 1`` with ``M-1`` the previous calendar month (null when that
    month has no row or ``x_{M-1} = 0``: a missing row is unknown, not zero);
    ``heat = etf_change - active_change``; ``hot = heat > 0`` (Huafu 2026-02: hot ETF issuance
    favours the industries ETFs overweight). Month ``M``'s row uses months ``M`` and ``M-1``
    only, so it is known at ``M``'s last trading day.

    Examples
    --------
    >>> import datetime as dt
    >>> import polars as pl
    >>> D = dt.date
    >>> iss = pl.DataFrame({"month": [D(2024, 1, 1)] * 2 + [D(2024, 2, 1)] * 2,
    ...                     "kind": ["etf", "active"] * 2, "new_shares": [10.0, 10.0, 15.0, 11.0]})
    >>> issuance_heat(iss, pl.Series([D(2024, 1, 31), D(2024, 2, 29)])).select(
    ...     "month", pl.col("heat").round(12), "hot").rows()
    [(datetime.date(2024, 1, 1), None, None), (datetime.date(2024, 2, 1), 0.4, True)]
    """
    _require(fund_issuance, "fund_issuance", ("month", "kind", "new_shares"))
    iss = fund_issuance.select(
        pl.col("month").cast(pl.Date), pl.col("kind").cast(pl.String), pl.col("new_shares")
    )
    checks = {
        "kind must be 'etf' or 'active'": ~pl.col("kind").is_in(["etf", "active"])
        | pl.col("kind").is_null(),
        "month must be the first day of a month": (pl.col("month").dt.day() != 1)
        | pl.col("month").is_null(),
        "new_shares must be finite and >= 0": pl.col("new_shares").is_null()
        | ~pl.col("new_shares").is_finite()
        | (pl.col("new_shares") < 0),
        "duplicate (month, kind)": pl.struct("month", "kind").is_duplicated(),
    }
    for msg, cond in checks.items():
        bad = iss.filter(cond)
        if bad.height:
            raise DataContractError(msg, table="fund_issuance", examples=bad, n_rows=bad.height)
    months = _calendar(month_dates, "issuance_heat month_dates").select(
        pl.col("date").dt.month_start().alias("month")
    )
    wide = {
        kind: iss.filter(pl.col("kind") == kind).select("month", pl.col("new_shares").alias(kind))
        for kind in ("etf", "active")
    }

    def level(kind: str, shift: int) -> pl.DataFrame:
        key = months.with_columns(src=pl.col("month").dt.offset_by(f"{shift}mo"))
        return key.join(wide[kind].rename({"month": "src"}), on="src", how="left")

    def change(kind: str) -> pl.Expr:
        prev = pl.col(f"{kind}_prev")
        return pl.when(prev > 0).then(pl.col(f"{kind}_new") / prev - 1.0)

    out = months.with_columns(
        etf_new=level("etf", 0)["etf"],
        active_new=level("active", 0)["active"],
        etf_prev=level("etf", -1)["etf"],
        active_prev=level("active", -1)["active"],
    ).with_columns(etf_change=change("etf"), active_change=change("active"))
    out = out.with_columns(heat=pl.col("etf_change") - pl.col("active_change")).with_columns(
        hot=pl.col("heat") > 0
    )
    return out.select(SCHEMAS["issuance"].names()).cast(SCHEMAS["issuance"])


def tercile_labels(x: np.ndarray, groups: int) -> np.ndarray:
    """1-based quantile groups of ``x`` (1 = lowest): the stock backtests' rule
    (:func:`etfflow.backtest.engine.qcut_groups`: pandas ``qcut`` on the values).

    Examples
    --------
    >>> import numpy as np
    >>> tercile_labels(np.array([0.5, -1.0, 2.0, 0.1, 3.0]), 3).tolist()
    [2, 1, 3, 1, 3]
    """
    return qcut_groups(np.asarray(x, dtype=np.float64), groups)


def divergence_terciles(
    divergence: np.ndarray, fwd_ret: np.ndarray, *, terciles: int = 3
) -> pl.DataFrame:
    """Next-month returns of divergence groups inside the positive and negative sides.

    Parameters
    ----------
    divergence
        ``(M, I)`` ETF share minus active share per month-end and industry (NaN = none).
    fwd_ret
        ``(M, I)`` each industry's return over the following month (decimal; NaN = none).
    terciles
        Groups per side.

    Returns
    -------
    polars.DataFrame
        ``SCHEMAS["divergence_groups"]``: ``2 × terciles`` rows, side ``"positive"`` then
        ``"negative"``, ``tercile`` 1 (lowest divergence) .. ``terciles`` (highest); statistics
        are null for a group with no month.

    Notes
    -----
    Each month the industries with a finite divergence and next-month return split into
    ``positive`` (divergence > 0: ETFs heavier) and ``negative`` (< 0; exactly 0 is in
    neither). Inside a side of ``n`` industries, the terciles of :func:`tercile_labels`
    (``pd.qcut(x, G) + 1``, the stock backtests' rule); a side with ``n < G`` that month
    is skipped (counted in the log) rather than given partial groups. Group return ``g_m`` =
    equal-weight mean next-month return; benchmark ``b_m`` = equal-weight mean over every
    industry with a next-month return. Over the months a group exists: ``mean_return =
    mean g_m``, ``annual_return = (1 + mean_return)^12 - 1``, ``excess_return = mean (g_m -
    b_m)`` (monthly), ``win_rate = share of months with g_m > b_m``, ``n_months``.

    Examples
    --------
    >>> import numpy as np
    >>> div = np.array([[0.3, 0.2, 0.1, -0.1, -0.2, -0.3]])
    >>> fwd = np.array([[0.06, 0.03, 0.0, 0.0, -0.03, -0.06]])
    >>> t = divergence_terciles(div, fwd)
    >>> t.filter(side="positive").select("tercile", "mean_return", "win_rate").rows()
    [(1, 0.0, 0.0), (2, 0.03, 1.0), (3, 0.06, 1.0)]
    """
    div = np.asarray(divergence, dtype=np.float64)
    fwd = np.asarray(fwd_ret, dtype=np.float64)
    if div.ndim != 2 or div.shape != fwd.shape:
        raise EtfflowError(
            f"divergence_terciles needs divergence and fwd_ret of one (M, I) shape, got "
            f"{div.shape} and {fwd.shape}"
        )
    if not isinstance(terciles, int) or terciles < 1:
        raise EtfflowError(
            f"divergence_terciles: terciles must be an integer >= 1, got {terciles!r}"
        )
    g_n = terciles
    rets: dict[tuple[str, int], list[tuple[float, float]]] = {
        (s, g): [] for s in SIDES for g in range(1, g_n + 1)
    }
    skipped = dict.fromkeys(SIDES, 0)
    for m in range(div.shape[0]):
        ok_r = np.isfinite(fwd[m])
        if not ok_r.any():
            continue
        bench = float(fwd[m, ok_r].mean())
        ok = ok_r & np.isfinite(div[m])
        for side, mask in (("positive", ok & (div[m] > 0)), ("negative", ok & (div[m] < 0))):
            cols = np.flatnonzero(mask)
            if len(cols) == 0:
                continue
            if len(cols) < g_n:
                skipped[side] += 1
                continue
            lab = tercile_labels(div[m, cols], g_n)
            for g in range(1, g_n + 1):
                rets[(side, g)].append((float(fwd[m, cols[lab == g]].mean()), bench))
    if any(skipped.values()):
        log.info(
            "divergence_terciles: months skipped with fewer than %d industries on a side: %s",
            g_n,
            skipped,
        )
    rows = []
    for (side, g), pairs in rets.items():
        a = np.array(pairs, dtype=np.float64).reshape(-1, 2)
        n = len(a)
        mean = float(a[:, 0].mean()) if n else None
        rows.append(
            {
                "side": side,
                "tercile": g,
                "mean_return": mean,
                "annual_return": (1.0 + mean) ** 12 - 1.0 if mean is not None else None,
                "excess_return": float((a[:, 0] - a[:, 1]).mean()) if n else None,
                "win_rate": float((a[:, 0] > a[:, 1]).mean()) if n else None,
                "n_months": n,
            }
        )
    return pl.DataFrame(rows, schema=SCHEMAS["divergence_groups"], orient="row")
