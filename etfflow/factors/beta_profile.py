"""The cross-section of ``passive_beta``: its distribution across stocks on one day and how
well the regressions fit (Huaan 2024-12 §4.3, table 55: "most stocks have a positive beta, the
mean is 0.5, the mean R² of the regressions 0.67").

For each stock the regression is the one of the factor ``passive_beta_n``
(docs/methodology.md#32-the-factor-families): the daily return ``r`` on the winsorised daily
growth of the passive holding ``g = winsor5MAD(mv_passive[t]/mv_passive[t-1] - 1)`` over the
last ``n`` trading days, with an intercept, on the rows where both are valid. Its ``R²`` is
the squared Pearson correlation of ``r`` and ``g`` over the same rows (simple regression);
it is missing when either is constant over the window (a stock suspended for the whole
window: a zero beta explains nothing). Point in time: the profile of day ``t`` reads rows up
to ``t`` only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from etfflow.exceptions import EtfflowError
from etfflow.factors import kernels as K
from etfflow.factors.definitions import passive_growth
from etfflow.factors.inputs import FactorInputs

__all__ = ["BetaProfile", "passive_beta_profile"]


@dataclass
class BetaProfile:
    """``table``: one row per stock with a beta on ``date`` (``code, beta, r2``);
    ``summary``: counts, mean / median beta, share positive, mean / median R²."""

    date: dt.date
    window: int
    table: pl.DataFrame
    summary: dict[str, float | int | None]

    def histogram(self, bins: int = 20, clip: float = 0.01) -> pl.DataFrame:
        """Counts of stocks per beta bin (``lo, hi, n``): ``bins`` equal bins between the
        ``clip`` and ``1 - clip`` quantiles, the tails counted in the first and last bin."""
        b = self.table["beta"].to_numpy()
        if len(b) == 0:
            return pl.DataFrame(schema={"lo": pl.Float64, "hi": pl.Float64, "n": pl.Int64})
        lo, hi = np.quantile(b, [clip, 1 - clip])
        if hi <= lo:
            lo, hi = float(b.min()), float(b.max()) + 1e-12
        edges = np.linspace(lo, hi, bins + 1)
        n, _ = np.histogram(np.clip(b, lo, hi), bins=edges)
        return pl.DataFrame({"lo": edges[:-1], "hi": edges[1:], "n": n.astype(np.int64)})


def passive_beta_profile(
    inputs: FactorInputs, window: int = 20, date: dt.date | None = None
) -> BetaProfile:
    """``passive_beta_{window}`` and its R² for every stock on ``date`` (default: the last day;
    otherwise the last trading day on or before ``date``)."""
    if inputs.level != "stock":
        raise EtfflowError(f"passive_beta profile: stock inputs needed, got {inputs.level!r}")
    cal = inputs.calendar
    if date is None:
        t = len(cal) - 1
    else:
        t = int(np.searchsorted(cal.epoch, np.datetime64(date, "D").astype(np.int64), "right")) - 1
        if t < 0:
            raise EtfflowError(f"passive_beta profile: {date} is before the data's first day")
    # rows 0..t: the kernels' running sums then give the factor's own bits on day t
    r = inputs["ret"][: t + 1]
    g = passive_growth(inputs)[: t + 1]
    beta = K.rolling_beta(r, g, window)[-1]
    corr = K.rolling_corr(r, g, window)[-1]
    ok = np.isfinite(beta)
    table = pl.DataFrame(
        {
            "code": pl.Series(inputs.names, dtype=pl.String).filter(pl.Series(ok)),
            "beta": beta[ok],
            "r2": np.where(np.isfinite(corr[ok]), corr[ok] ** 2, np.nan),
        }
    ).with_columns(pl.col("r2").fill_nan(None))
    b, r2 = table["beta"], table["r2"].drop_nulls()
    summary: dict[str, float | int | None] = {
        "n_stocks": table.height,
        "mean_beta": b.mean() if table.height else None,  # type: ignore[dict-item]
        "median_beta": b.median() if table.height else None,  # type: ignore[dict-item]
        "share_positive": float((b > 0).mean()) if table.height else None,  # type: ignore[arg-type]
        "n_r2": r2.len(),
        "mean_r2": r2.mean() if r2.len() else None,  # type: ignore[dict-item]
        "median_r2": r2.median() if r2.len() else None,  # type: ignore[dict-item]
    }
    return BetaProfile(cal.dates[t], window, table, summary)
