"""numba kernel of the weekly look-through to industries: one pass over the weight rows
(:func:`etfflow.backtest.rotation.holdings.snapshot_industry_weights`).

Reference twin of the whole computation:
:func:`etfflow.backtest.rotation.holdings_ref.industry_holdings_ref` (plain Python over the
table rows), compared in ``tests/backtest/rotation/test_holdings.py``.
"""

from __future__ import annotations

import numpy as np

from etfflow._jit import kernel


@kernel
def snapshot_sums(
    sid: np.ndarray,
    code: np.ndarray,
    weight: np.ndarray,
    ptr: np.ndarray,
    pair_month: np.ndarray,
    table: np.ndarray,
    out: np.ndarray,
) -> tuple[int, float]:
    """Add each row's weight to ``out[pair, industry]`` for every (snapshot, month-end) pair
    its snapshot serves (``ptr[sid]:ptr[sid+1]``), the industry being the stock's on that
    month-end (``table[pair_month[pair], code]``). Returns the count and total weight of the
    rows whose stock has no industry (left out)."""
    n_out = 0
    w_out = 0.0
    for r in range(sid.shape[0]):
        s = sid[r]
        c = code[r]
        for p in range(ptr[s], ptr[s + 1]):
            ind = table[pair_month[p], c] if c >= 0 else -1
            if ind >= 0:
                out[p, ind] += weight[r]
            else:
                n_out += 1
                w_out += weight[r]
    return n_out, w_out
