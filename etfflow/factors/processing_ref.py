"""Reference twins of the cross-sectional processing kernels, for tests only.

Definition: docs/methodology.md#4-cross-sectional-processing.

Plain NumPy, one date at a time, written straight from the definitions:
``np.median`` / ``np.std`` on the valid values, and for the regressions an explicit design
matrix (intercept, one column per industry and board present, the continuous regressors)
solved by ``np.linalg.lstsq``, which copes with the redundant dummies itself.
:mod:`etfflow.factors.processing_nb` must agree with these.
"""

from __future__ import annotations

import numpy as np

MAD_SCALE = 1.4826


def winsorize_mad_ref(x: np.ndarray, *, k: float = 5.0, scaled: bool = False) -> np.ndarray:
    out = np.full(x.shape, np.nan)
    for t in range(x.shape[0]):
        row = x[t]
        ok = np.isfinite(row)
        if not ok.any():
            continue
        v = row[ok]
        med = np.median(v)
        mad = np.median(np.abs(v - med))
        if scaled:
            mad = mad * MAD_SCALE
        out[t, ok] = np.clip(v, med - k * mad, med + k * mad) if mad > 0 else v
    return out


def fill_group_median_ref(
    x: np.ndarray, groups: np.ndarray, *, universe: np.ndarray | None = None
) -> np.ndarray:
    groups = np.broadcast_to(groups, x.shape)
    u = np.ones(x.shape, dtype=bool) if universe is None else universe
    out = np.where(u, x, np.nan)
    out[~np.isfinite(out)] = np.nan
    for t in range(x.shape[0]):
        for s in range(x.shape[1]):
            if not u[t, s] or np.isfinite(x[t, s]) or groups[t, s] < 0:
                continue
            peers = u[t] & np.isfinite(x[t]) & (groups[t] == groups[t, s])
            if peers.any():
                out[t, s] = np.median(x[t, peers])
    return out


def zscore_ref(x: np.ndarray) -> np.ndarray:
    out = np.full(x.shape, np.nan)
    for t in range(x.shape[0]):
        ok = np.isfinite(x[t])
        v = x[t, ok]
        if v.size < 2 or v.min() == v.max():
            continue
        mean = v[0] + (v - v[0]).mean()  # about the first value: exact under a 1e8 offset
        sd = np.sqrt(((v - mean) ** 2).sum() / (v.size - 1))
        if sd > 0:  # 0 when the squared deviations underflow: NaN like a constant row
            out[t, ok] = (v - mean) / sd
    return out


def ols_residual_ref(
    y: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    conts: list[np.ndarray] | None = None,
    boards: np.ndarray | None = None,
) -> np.ndarray:
    """Per-date ``np.linalg.lstsq`` residual of ``y`` on intercept + industry dummies +
    ``conts`` + board dummies; dates with fewer valid cells than regressors + 1 are NaN
    (regressors: intercept, present industries - 1, ``len(conts)``, present boards - 1)."""
    shape = y.shape
    conts = [] if conts is None else list(conts)
    g = np.zeros(shape, dtype=np.int64) if groups is None else np.broadcast_to(groups, shape)
    b = np.zeros(shape, dtype=np.int64) if boards is None else np.broadcast_to(boards, shape)
    out = np.full(shape, np.nan)
    for t in range(shape[0]):
        ok = np.isfinite(y[t]) & (g[t] >= 0) & (b[t] >= 0)
        for c in conts:
            ok &= np.isfinite(c[t])
        if not ok.any():
            continue
        inds = np.unique(g[t, ok])
        brds = np.unique(b[t, ok])
        k = 1 + (len(inds) - 1) + len(conts) + (len(brds) - 1)
        if ok.sum() < k + 1:
            continue
        cols = [np.ones(ok.sum())]
        cols += [(g[t, ok] == i).astype(float) for i in inds]
        cols += [c[t, ok] for c in conts]
        cols += [(b[t, ok] == j).astype(float) for j in brds]
        design = np.column_stack(cols)
        yc = y[t, ok] - y[t, ok].mean()  # the intercept is in the model: only for precision
        beta, *_ = np.linalg.lstsq(design, yc, rcond=None)
        out[t, ok] = yc - design @ beta
    return out


def neutralize_ref(
    x: np.ndarray,
    *,
    groups: np.ndarray | None,
    log_cap: np.ndarray | None,
    boards: np.ndarray | None = None,
) -> np.ndarray:
    return ols_residual_ref(
        x, groups=groups, conts=[] if log_cap is None else [log_cap], boards=boards
    )


def strip_ref(x: np.ndarray, controls: list[np.ndarray]) -> np.ndarray:
    return ols_residual_ref(x, conts=list(controls))


def design_ref(
    t: int,
    valid: np.ndarray,
    *,
    groups: np.ndarray | None,
    conts: list[np.ndarray],
    boards: np.ndarray | None,
) -> np.ndarray:
    """The full design matrix of date ``t`` over the cells ``valid`` (intercept, one dummy
    per industry and board present, the continuous regressors): for orthogonality checks."""
    n = int(valid.sum())
    cols = [np.ones(n)]
    if groups is not None:
        g = np.broadcast_to(groups, valid.shape)[valid] if groups.ndim == 1 else groups[t, valid]
        cols += [(g == i).astype(float) for i in np.unique(g)]
    cols += [c[t, valid] for c in conts]
    if boards is not None:
        b = np.broadcast_to(boards, valid.shape)[valid] if boards.ndim == 1 else boards[t, valid]
        cols += [(b == j).astype(float) for j in np.unique(b)]
    return np.column_stack(cols)
