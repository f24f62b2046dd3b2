"""The factors of docs/methodology.md#32-the-factor-families, declared once each (stock and
industry level alike), each with the report and table it comes from (``source``).

Every function maps :class:`~etfflow.factors.inputs.FactorInputs` and a window ``n`` (trading
days; weeks or months for ``passive_inflow_corr``) to a ``(T, M)`` float64 array, NaN = null.
``x[t-n]`` is the value ``n`` trading days earlier on the calendar (null before the asset
exists); a window with fewer than ``n`` valid observations gives null
(docs/methodology.md#31-conventions).
Units: ``mv_*`` and ``inflow`` in CNY, ``share_*`` in fund shares, ``w_*`` and returns decimal.
"""

from __future__ import annotations

import numpy as np

from etfflow.factors import kernels as K
from etfflow.factors import ops
from etfflow.factors.inputs import FactorInputs
from etfflow.factors.processing_pipeline import Step, apply_steps
from etfflow.factors.registry import factor

#: Trading days of the momentum window and of its skipped recent part (``mom_12m``,
#: Huaan 2024-12 §3.2).
MOM_DAYS, MOM_SKIP = 250, 20
WEEKLY_CORR_WINDOWS: tuple[int, ...] = (4, 12, 24, 48, 96)
MONTHLY_CORR_WINDOWS: tuple[int, ...] = (4, 12, 24)


# ---------------------------------------------------------------------------- helpers
def lag(a: np.ndarray, n: int) -> np.ndarray:
    """``a[t-n]`` on the calendar (NaN for the first ``n`` rows)."""
    out = np.full_like(a, np.nan)
    if n < len(a):
        out[n:] = a[: len(a) - n]
    return out


diff, ratio = ops.diff, ops.ratio


def log_returns(x: FactorInputs) -> np.ndarray:
    return x.cached("log1p_ret", lambda: np.log1p(x["ret"]))


def compounded(x: FactorInputs, n: int) -> np.ndarray:
    """``prod(1 + r[t-n+1..t]) - 1`` (complete windows only)."""
    return np.expm1(K.rolling_sum(log_returns(x), n))


_WINSOR_5 = Step("winsor", {"k": 5.0, "scaled": False})


def passive_growth(x: FactorInputs) -> np.ndarray:
    """``mv_passive[t]/mv_passive[t-1] - 1`` winsorised per day at median ± 5×MAD."""

    def make() -> np.ndarray:
        mv = x["mv_passive"]
        g = ops.change(mv, 1)
        # = winsorize_mad(g, k=5.0), run by the processing pipeline's kernel, which a run
        # compiles anyway (one kernel less to compile on a first run)
        return apply_steps(g, _WINSOR_5)

    return x.cached("passive_growth_w5", make)


# ---------------------------------------------------------------------------- levels
@factor(
    "w_passive",
    formula="mv_passive / float_mcap",
    source="Huaan 2024-12 tables 8, 11, 46",
    inputs=("mv_passive", "float_mcap"),
    direction=1,
    lookback=0,
)
def w_passive(x: FactorInputs, n: int | None) -> np.ndarray:
    return x["w_passive"].copy()


# ---------------------------------------------------------------------------- differences
@factor(
    "share_passive_fund_diff_{n}",
    formula="share_passive_fund[t] - share_passive_fund[t-n]",
    source="Huaan 2024-12 table 8",
    inputs=("share_passive_fund",),
    direction=-1,
    lookback=lambda n: n,
)
def share_passive_fund_diff(x: FactorInputs, n: int) -> np.ndarray:
    return diff(x["share_passive_fund"], n)


@factor(
    "share_passive_diff_{n}",
    formula="share_passive[t] - share_passive[t-n]",
    source="Huaan 2024-12 table 8",
    inputs=("share_passive",),
    direction=-1,
    lookback=lambda n: n,
)
def share_passive_diff(x: FactorInputs, n: int) -> np.ndarray:
    return diff(x["share_passive"], n)


@factor(
    "mv_passive_diff_{n}",
    formula="mv_passive[t] - mv_passive[t-n]",
    source="Huaan 2024-12 table 8",
    inputs=("mv_passive",),
    direction=-1,
    lookback=lambda n: n,
)
def mv_passive_diff(x: FactorInputs, n: int) -> np.ndarray:
    return diff(x["mv_passive"], n)


@factor(
    "mv_passive_chg_{n}",
    formula="mv_passive_diff_n / mv_passive[t-n]  (null when mv_passive[t-n] = 0)",
    source="Huaan 2024-12 tables 8, 11, 46",
    inputs=("mv_passive",),
    direction=-1,
    lookback=lambda n: n,
)
def mv_passive_chg(x: FactorInputs, n: int) -> np.ndarray:
    return ops.change(x["mv_passive"], n)


@factor(
    "w_passive_diff_{n}",
    formula="mv_passive_diff_n / float_mcap[t]",
    source="Huaan 2024-12 tables 8, 46",
    inputs=("mv_passive", "float_mcap"),
    direction=-1,
    lookback=lambda n: n,
)
def w_passive_diff(x: FactorInputs, n: int) -> np.ndarray:
    return ops.diff_over(x["mv_passive"], n, x["float_mcap"])


@factor(
    "w_passive_chg_{n}",
    formula="w_passive[t] - w_passive[t-n]",
    source="Kaiyuan 2024-09 table 4",
    inputs=("w_passive",),
    direction=-1,
    lookback=lambda n: n,
)
def w_passive_chg(x: FactorInputs, n: int) -> np.ndarray:
    return diff(x["w_passive"], n)


# ---------------------------------------------------------------------------- rolling
@factor(
    "w_passive_zs_{n}",
    formula="(w_passive[t] - mean(w_passive[t-n+1..t])) / std(w_passive[t-n+1..t]), ddof=1",
    source="Huaan 2024-12 tables 8, 11, 46",
    inputs=("w_passive",),
    direction=1,
    lookback=lambda n: n - 1,
)
def w_passive_zs(x: FactorInputs, n: int) -> np.ndarray:
    return K.rolling_zscore(x["w_passive"], n, ddof=1)


@factor(
    "mv_passive_inflow_{n}",
    formula="sum(inflow[t-n+1..t])",
    source="Huaan 2024-12 table 8",
    inputs=("inflow",),
    direction=-1,
    lookback=lambda n: n,
)
def mv_passive_inflow(x: FactorInputs, n: int) -> np.ndarray:
    return K.rolling_sum(x["inflow"], n)


@factor(
    "w_passive_inflow_{n}",
    formula="mv_passive_inflow_n / float_mcap[t]",
    source="Huaan 2024-12 tables 8, 11, 46",
    inputs=("inflow", "float_mcap"),
    direction=-1,
    lookback=lambda n: n,
)
def w_passive_inflow(x: FactorInputs, n: int) -> np.ndarray:
    return ratio(K.rolling_sum(x["inflow"], n), x["float_mcap"])


@factor(
    "passive_slope_{n}",
    formula="OLS slope of mv_passive[k] on k = 1..n over the last n days",
    source="Huaan 2024-12 §4.2, table 52",
    inputs=("mv_passive",),
    direction=-1,
    lookback=lambda n: n - 1,
)
def passive_slope(x: FactorInputs, n: int) -> np.ndarray:
    return K.rolling_slope(x["mv_passive"], n)


@factor(
    "passive_beta_{n}",
    formula="OLS beta of r[k] on winsor5MAD(mv_passive[k]/mv_passive[k-1]-1), last n days",
    source="Huaan 2024-12 §4.3, table 56",
    inputs=("ret", "mv_passive"),
    direction=-1,
    lookback=lambda n: n,
)
def passive_beta(x: FactorInputs, n: int) -> np.ndarray:
    return K.rolling_beta(x["ret"], passive_growth(x), n)


# ---------------------------------------------------------------------------- trading
@factor(
    "turnover_{n}",
    formula="mean(turnover[t-n+1..t]) (mean daily turnover rate, stock_daily.turnover)",
    source="Huaan 2024-12 table 44 (Turnover5, Turnover20)",
    inputs=("turnover",),
    direction=-1,
    lookback=lambda n: n - 1,
    windows=(5, 20),
    levels=("stock",),
)
def turnover(x: FactorInputs, n: int) -> np.ndarray:
    # the n-day sum over n: the rolling-sum kernel the flow factors already compile (a cold
    # first run compiles no extra kernel for these two factors)
    return K.rolling_sum(x["turnover"], n) / n


# ---------------------------------------------------------------------------- returns
@factor(
    "revs_{n}",
    formula="prod(1 + r[t-n+1..t]) - 1 (past n-day total return)",
    source="Huaan 2024-12 tables 17, 52",
    inputs=("ret",),
    direction=-1,
    lookback=lambda n: n - 1,  # n returns r[t-n+1..t]
)
def revs(x: FactorInputs, n: int) -> np.ndarray:
    return compounded(x, n)


@factor(
    "mom_12m",
    formula=f"prod(1 + r[t-{MOM_DAYS - 1}..t-{MOM_SKIP}]) - 1 "
    f"(past {MOM_DAYS}-day return skipping the last {MOM_SKIP})",
    source="Huaan 2024-12 §3.2",
    inputs=("ret",),
    direction=1,
    lookback=MOM_DAYS - 1,  # returns r[t-249..t-20]
)
def mom_12m(x: FactorInputs, n: int | None) -> np.ndarray:
    return lag(compounded(x, MOM_DAYS - MOM_SKIP), MOM_SKIP)


# ---------------------------------------------------------------------------- periods
def period_ids(x: FactorInputs, freq: str) -> np.ndarray:
    """Per trading day, a key that is constant within a calendar week (``w``) or month."""
    if freq == "w":
        # weeks start on Monday; 1970-01-01 was a Thursday
        return (x.calendar.epoch.astype(np.int64) + 3) // 7
    return x.calendar.epoch.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def period_panels(x: FactorInputs, freq: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per completed calendar period: stock return, inflow rate, and the day index it ends on.

    ``ret_p = prod(1+r) - 1`` over the period's days (null when no valid day);
    ``rate_p = sum inflow over the period / mv_passive at the end of the previous period``
    (null when that is 0 or missing). A period is complete on its last trading day.
    """

    def make() -> tuple[np.ndarray, np.ndarray]:
        key = period_ids(x, freq)
        t = len(key)
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if t else np.zeros(0, int)
        ends = np.r_[starts[1:] - 1, t - 1] if t else np.zeros(0, int)
        lr = log_returns(x)
        valid = np.isfinite(lr)
        lr_sum = np.add.reduceat(np.where(valid, lr, 0.0), starts, axis=0) if t else lr[:0]
        n_ok = np.add.reduceat(valid.astype(np.int64), starts, axis=0) if t else lr[:0]
        ret_p = np.where(n_ok > 0, np.expm1(lr_sum), np.nan)
        inflow = x["inflow"]
        iv = np.isfinite(inflow)
        in_sum = np.add.reduceat(np.where(iv, inflow, 0.0), starts, axis=0) if t else lr[:0]
        in_ok = np.add.reduceat(iv.astype(np.int64), starts, axis=0) if t else lr[:0]
        in_sum = np.where(in_ok > 0, in_sum, np.nan)
        mv_end = x["mv_passive"][ends]
        mv_start = np.vstack([np.full((1, mv_end.shape[1]), np.nan), mv_end[:-1]])
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(mv_start > 0, in_sum / mv_start, np.nan)
        return np.stack([ret_p, rate]), ends

    (stack, ends) = x.cached(f"periods_{freq}", make)
    return stack[0], stack[1], ends


def _to_days(x: FactorInputs, per_period: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Value on day ``t`` = value of the last period that ended on or before ``t``."""
    t = x.shape[0]
    last = np.searchsorted(ends, np.arange(t), side="right") - 1
    out = np.full((t, per_period.shape[1]), np.nan)
    ok = last >= 0
    out[ok] = per_period[last[ok]]
    return out


def _inflow_corr(x: FactorInputs, freq: str, n: int) -> np.ndarray:
    ret_p, rate, ends = period_panels(x, freq)
    corr = K.rolling_corr(ret_p, rate, n)
    return _to_days(x, corr, ends)


@factor(
    "passive_inflow_corr_w_{n}",
    formula="corr over the last n weeks of weekly return and weekly inflow / mv_passive at "
    "the week's start",
    source="Huaan 2024-12 §4.3, table 60",
    inputs=("ret", "inflow", "mv_passive"),
    direction=-1,
    windows=WEEKLY_CORR_WINDOWS,
    lookback=lambda n: 5 * n + 4,  # n weekly changes: n + 1 completed 5-day weeks
)
def passive_inflow_corr_w(x: FactorInputs, n: int) -> np.ndarray:
    return _inflow_corr(x, "w", n)


@factor(
    "passive_inflow_corr_m_{n}",
    formula="corr over the last n months of monthly return and monthly inflow / mv_passive "
    "at the month's start",
    source="Huaan 2024-12 §4.3, table 60",
    inputs=("ret", "inflow", "mv_passive"),
    direction=-1,
    windows=MONTHLY_CORR_WINDOWS,
    lookback=lambda n: 21 * (n + 1) - 1,  # n + 1 month ends, ~21 trading days a month
)
def passive_inflow_corr_m(x: FactorInputs, n: int) -> np.ndarray:
    return _inflow_corr(x, "m", n)
