"""Rolling-kernel benchmark: etfflow vs numbagg vs Polars vs pandas, same panel, same process.

Usage::

    python benchmarks/bench_kernels.py                       # 1,250 days x 5,300 stocks
    python benchmarks/bench_kernels.py --stocks 800 --days 500 --repeat 3
    python benchmarks/bench_kernels.py --kernels std,slope --windows 20 --peers numbagg,pandas
    python benchmarks/bench_kernels.py --ab /path/to/other/checkout   # A/B: this vs that

``--ab DIR`` times this checkout's kernels against ``DIR/etfflow/factors/kernels.py`` (e.g. the
base commit, ``git archive <commit> | tar -x -C DIR``) in the same process: calls alternate
(A B B A ...), the ratio is taken pair by pair and its median printed, and the two outputs must
be bit-identical. No peers are run in this mode.

Data: a seeded panel shaped like etfflow's (days on axis 0, stocks on axis 1, C order):
``x`` = a passive-holding value in CNY (log random walk around 1e8, the slope / z-score
input), ``r`` = a daily return and ``g`` = a holding growth rate (the beta / correlation
inputs, ``r = 0.8 g + noise``). 20% of the stocks list late (leading NaN), every series has
~5% scattered NaN (suspensions). All contenders use ``min_periods = window`` and ``ddof = 1``.

Contenders (each timed after one warm-up call, best of ``--repeat``; a peer slower than 3 s
per call is timed fewer times, shown as ``best of k``):

* ``etfflow`` — :mod:`etfflow.factors.kernels` (numba, parallel over blocks of stocks).
* ``numbagg`` — ``move_sum / move_mean / move_std / move_cov / move_var / move_corr`` along
  axis 0; z-score, slope, beta and residual are composed from them (time regressor masked
  where ``y`` is missing; pair-masked means for the residual's intercept).
* ``polars-long`` — the natural Polars layout: one long frame (code, date, value) sorted by
  code then date, ``rolling_*(...).over("code")``; NaN converted to null beforehand (Polars
  propagates NaN but skips null). Slope/beta via ``pl.rolling_cov`` / ``rolling_var``.
* ``polars-wide`` — one column per stock, ``pl.all().rolling_*`` (parallel over columns).
* ``pandas`` — wide DataFrame, ``df.rolling(window).mean()`` etc. along axis 0; slope/beta via
  ``rolling.cov`` / ``rolling.var``. ``rolling.apply(np.polyfit)``, the textbook slope, is
  timed on ``--polyfit-stocks`` stocks and extrapolated linearly to the full panel: labelled
  ``pandas-polyfit*`` (never run on the full panel).

Frame construction (NumPy -> DataFrame, NaN -> null) is done once, outside the timings;
producing the result as a NumPy array / frame column is inside. Each peer's output is compared
with etfflow's on the same cells: ``max|Δ|`` over cells where both are finite (relative to
the largest |etfflow| value) and ``nan≠`` the number of cells where exactly one is NaN/null.

The machine is shared (2 cores, other jobs running): timings are best-of-N and noisy; the
load average is printed before and after.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

import numpy as np

KERNELS = ("sum", "mean", "std", "zscore", "slope", "beta", "corr", "residual")
PEERS = ("numbagg", "polars-long", "polars-wide", "pandas")
SLOW_S = 3.0


# --------------------------------------------------------------------------- data
def make_panel(days: int, stocks: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    logv = np.log(1e8) + np.cumsum(rng.normal(0.0, 0.02, (days, stocks)), axis=0)
    x = np.exp(logv)
    g = rng.normal(0.0, 0.01, (days, stocks))
    r = 0.8 * g + rng.normal(0.0, 0.02, (days, stocks))
    late = rng.random(stocks) < 0.2
    start = np.where(late, rng.integers(1, days, stocks), 0)
    lead = np.arange(days)[:, None] < start[None, :]
    for a in (x, g, r):
        a[lead | (rng.random((days, stocks)) < 0.05)] = np.nan
    return {"x": np.ascontiguousarray(x), "r": r, "g": g}


# --------------------------------------------------------------------------- timing
def best_ms(fn: Callable[[], object], repeat: int) -> tuple[float, int, object, float]:
    """Warm up once, then best wall time of up to ``repeat`` calls (fewer when slow).

    Returns ``(best wall ms, calls timed, last output, best process CPU ms)``; the CPU time
    (all threads) shows the work done independently of how busy the shared machine was.
    """
    t0 = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t0
    n = repeat if first < SLOW_S else max(1, min(repeat, 2))
    best = cpu = float("inf")
    for _ in range(n):
        c0 = time.process_time()
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return best * 1e3, n, out, cpu * 1e3


def compare(ours: np.ndarray, theirs: np.ndarray) -> tuple[float, int]:
    theirs = np.where(np.isinf(theirs), np.nan, theirs)
    a, b = np.isnan(ours), np.isnan(theirs)
    both = ~a & ~b
    scale = np.max(np.abs(ours[both])) if both.any() else 1.0
    diff = float(np.max(np.abs(ours[both] - theirs[both])) / scale) if both.any() else 0.0
    return diff, int((a != b).sum())


# --------------------------------------------------------------------------- contenders
def etfflow_fns(
    d: dict[str, np.ndarray], w: int, kernels: ModuleType | None = None
) -> dict[str, Callable[[], np.ndarray]]:
    from etfflow.factors import kernels as ours

    K = kernels or ours

    x, r, g = d["x"], d["r"], d["g"]
    return {
        "sum": lambda: K.rolling_sum(x, w),
        "mean": lambda: K.rolling_mean(x, w),
        "std": lambda: K.rolling_std(x, w),
        "zscore": lambda: K.rolling_zscore(x, w),
        "slope": lambda: K.rolling_slope(x, w),
        "beta": lambda: K.rolling_beta(r, g, w),
        "corr": lambda: K.rolling_corr(g, r, w),
        "residual": lambda: K.rolling_residual(r, g, w),
    }


def numbagg_fns(d: dict[str, np.ndarray], w: int) -> dict[str, Callable[[], np.ndarray]]:
    import numbagg as nb

    x, r, g = d["x"], d["r"], d["g"]
    kw = {"window": w, "min_count": w, "axis": 0}
    tt = np.arange(x.shape[0], dtype=np.float64)[:, None]

    def zscore() -> np.ndarray:
        return (x - nb.move_mean(x, **kw)) / nb.move_std(x, **kw)

    def slope() -> np.ndarray:
        tm = np.where(np.isnan(x), np.nan, tt)
        return nb.move_cov(x, tm, **kw) / nb.move_var(tm, **kw)

    def beta() -> np.ndarray:
        gm = np.where(np.isnan(r), np.nan, g)
        return nb.move_cov(r, g, **kw) / nb.move_var(gm, **kw)

    def residual() -> np.ndarray:
        gm = np.where(np.isnan(r), np.nan, g)
        rm = np.where(np.isnan(g), np.nan, r)
        b = nb.move_cov(r, g, **kw) / nb.move_var(gm, **kw)
        return r - nb.move_mean(rm, **kw) - b * (g - nb.move_mean(gm, **kw))

    return {
        "sum": lambda: nb.move_sum(x, **kw),
        "mean": lambda: nb.move_mean(x, **kw),
        "std": lambda: nb.move_std(x, **kw),
        "zscore": zscore,
        "slope": slope,
        "beta": beta,
        "corr": lambda: nb.move_corr(g, r, **kw),
        "residual": residual,
    }


def _polars_expr(kernel: str, x: object, r: object, g: object, t: object, w: int) -> object:
    """The Polars expression of ``kernel`` on columns ``x, r, g`` and time ``t``."""
    import polars as pl

    ms = {"min_samples": w}
    if kernel in ("sum", "mean", "std"):
        return getattr(x, f"rolling_{kernel}")(w, **ms)
    if kernel == "zscore":
        return (x - x.rolling_mean(w, **ms)) / x.rolling_std(w, **ms)
    if kernel == "slope":
        tm = pl.when(x.is_not_null()).then(t)
        return pl.rolling_cov(x, tm, window_size=w, **ms) / tm.rolling_var(w, **ms)
    if kernel == "corr":
        return pl.rolling_corr(g, r, window_size=w, **ms)
    gm = pl.when(r.is_not_null()).then(g)
    b = pl.rolling_cov(r, g, window_size=w, **ms) / gm.rolling_var(w, **ms)
    if kernel == "beta":
        return b
    rm = pl.when(g.is_not_null()).then(r)
    return r - rm.rolling_mean(w, **ms) - b * (g - gm.rolling_mean(w, **ms))


def polars_long_fns(d: dict[str, np.ndarray], w: int) -> dict[str, Callable[[], np.ndarray]]:
    import polars as pl

    days, stocks = d["x"].shape
    code = np.repeat(np.arange(stocks, dtype=np.int32), days)
    date = np.tile(np.arange(days, dtype=np.float64), stocks)
    long = pl.DataFrame(
        {"code": code, "t": date, **{k: d[k].T.reshape(-1) for k in ("x", "r", "g")}}
    ).with_columns(pl.col("x", "r", "g").fill_nan(None))
    cols = [pl.col(c) for c in ("x", "r", "g", "t")]

    def run(kernel: str) -> Callable[[], np.ndarray]:
        e = _polars_expr(kernel, *cols, w).over("code").alias("v")

        def f() -> np.ndarray:
            return long.select(e).to_series().to_numpy().reshape(stocks, days).T

        return f

    return {k: run(k) for k in KERNELS}


def polars_wide_fns(d: dict[str, np.ndarray], w: int) -> dict[str, Callable[[], np.ndarray]]:
    import polars as pl

    days, stocks = d["x"].shape
    frames = [
        pl.from_numpy(d[k], schema=[f"{k}{j}" for j in range(stocks)]).fill_nan(None)
        for k in ("x", "r", "g")
    ]
    t = pl.DataFrame({"t": np.arange(days, dtype=np.float64)})
    wide = pl.concat([*frames, t], how="horizontal")

    def run(kernel: str) -> Callable[[], np.ndarray]:
        exprs = [
            _polars_expr(
                kernel, pl.col(f"x{j}"), pl.col(f"r{j}"), pl.col(f"g{j}"), pl.col("t"), w
            ).alias(str(j))
            for j in range(stocks)
        ]
        return lambda: wide.select(exprs).to_numpy()

    return {k: run(k) for k in KERNELS}


def pandas_fns(d: dict[str, np.ndarray], w: int) -> dict[str, Callable[[], np.ndarray]]:
    import pandas as pd

    x, r, g = (pd.DataFrame(d[k]) for k in ("x", "r", "g"))
    tt = np.arange(len(x), dtype=np.float64)[:, None]

    def zscore() -> np.ndarray:
        roll = x.rolling(w)
        return ((x - roll.mean()) / roll.std()).to_numpy()

    def slope() -> np.ndarray:
        tm = pd.DataFrame(np.where(x.isna(), np.nan, tt))
        return (x.rolling(w).cov(tm) / tm.rolling(w).var()).to_numpy()

    def _beta() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        gm = g.where(r.notna())
        return r.rolling(w).cov(g) / gm.rolling(w).var(), gm, r.where(g.notna())

    def residual() -> np.ndarray:
        b, gm, rm = _beta()
        return (r - rm.rolling(w).mean() - b * (g - gm.rolling(w).mean())).to_numpy()

    return {
        "sum": lambda: x.rolling(w).sum().to_numpy(),
        "mean": lambda: x.rolling(w).mean().to_numpy(),
        "std": lambda: x.rolling(w).std().to_numpy(),
        "zscore": zscore,
        "slope": slope,
        "beta": lambda: _beta()[0].to_numpy(),
        "corr": lambda: g.rolling(w).corr(r).to_numpy(),
        "residual": residual,
    }


def polyfit_extrapolated(d: dict[str, np.ndarray], w: int, n_stocks: int) -> tuple[float, float]:
    """``rolling.apply(np.polyfit)`` on the first ``n_stocks`` stocks; ms scaled to the panel."""
    import pandas as pd

    def slope(v: np.ndarray) -> float:
        k = np.arange(v.size, dtype=np.float64)
        m = np.isfinite(v)
        return float(np.polyfit(k[m], v[m], 1)[0])

    sub = pd.DataFrame(d["x"][:, :n_stocks])
    t0 = time.perf_counter()
    out = sub.rolling(w).apply(slope, raw=True).to_numpy()
    ms = (time.perf_counter() - t0) * 1e3 * d["x"].shape[1] / n_stocks
    from etfflow.factors import kernels as K

    diff, _ = compare(K.rolling_slope(d["x"][:, :n_stocks], w), out)
    return ms, diff


# --------------------------------------------------------------------------- A/B
def load_module(path: Path, name: str) -> ModuleType:
    """Import the file ``path`` as a module called ``name`` (another checkout's version)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def paired_ms(a: Callable[[], object], b: Callable[[], object], repeat: int) -> AB:
    """Warm both up, then ``repeat`` pairs in alternating order: medians and the median ratio."""
    out_a, out_b = a(), b()
    ta: list[float] = []
    tb: list[float] = []
    for i in range(repeat):
        for fn, ts in ((a, ta), (b, tb)) if i % 2 == 0 else ((b, tb), (a, ta)):
            t0 = time.perf_counter()
            fn()
            ts.append((time.perf_counter() - t0) * 1e3)
    ratios = [x / y for x, y in zip(ta, tb, strict=True)]
    med = statistics.median
    return AB(med(ta), med(tb), med(ratios), out_a, out_b, ratios)


class AB(NamedTuple):
    ms_a: float
    ms_b: float
    ratio: float
    out_a: object
    out_b: object
    ratios: list[float]


def ab_main(args: argparse.Namespace, kernels: list[str], windows: list[int]) -> None:
    import numba

    from etfflow.factors import kernels as K

    base = load_module(Path(args.ab) / "etfflow" / "factors" / "kernels.py", "kernels_base")
    d = make_panel(args.days, args.stocks, args.seed)
    print(
        f"A/B: this checkout ({Path(K.__file__).parent.parent.parent}) vs {args.ab}; panel "
        f"{args.days:,} x {args.stocks:,}; numba threads {numba.get_num_threads()}; "
        f"{args.repeat} alternating pairs; loadavg {os.getloadavg()[0]:.2f}"
    )
    print(f"{'kernel':<9}{'w':>4}{'this ms':>10}{'base ms':>10}{'this/base':>11}  identical")
    ratios = []
    pooled: dict[str, list[float]] = {k: [] for k in kernels}
    for w in windows:
        ours = etfflow_fns(d, w)
        theirs = etfflow_fns(d, w, base)
        for k in kernels:
            r = paired_ms(ours[k], theirs[k], args.repeat)
            same = np.array_equal(r.out_a, r.out_b, equal_nan=True)  # type: ignore[arg-type]
            ratios.append(r.ratio)
            pooled[k] += r.ratios
            print(f"{k:<9}{w:>4}{r.ms_a:>10.1f}{r.ms_b:>10.1f}{r.ratio:>11.3f}  {same}")
            if not same:
                raise SystemExit(f"{k} w={w}: outputs differ from {args.ab}")
    print("every pair of every window, per kernel: median this/base [quartiles]")
    for k, rs in pooled.items():
        q1, q2, q3 = statistics.quantiles(rs, n=4) if len(rs) > 1 else (rs[0],) * 3
        print(f"  {k:<9}{q2:>7.3f}  [{q1:.3f}, {q3:.3f}]  ({len(rs)} pairs)")
    print(
        f"median of the {len(ratios)} ratios {statistics.median(ratios):.3f}, "
        f"max {max(ratios):.3f}; loadavg at the end {os.getloadavg()[0]:.2f}"
    )


# --------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stocks", type=int, default=5300)
    ap.add_argument("--days", type=int, default=1250)
    ap.add_argument("--repeat", type=int, default=7, help="timed calls after warm-up (best of)")
    ap.add_argument("--windows", default="20,40,60")
    ap.add_argument("--kernels", default=",".join(KERNELS))
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--polyfit-stocks", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ab", metavar="DIR", help="time against DIR/etfflow/factors/kernels.py")
    args = ap.parse_args()
    windows = [int(v) for v in args.windows.split(",")]
    kernels = [k for k in args.kernels.split(",") if k]
    peers = [p for p in args.peers.split(",") if p]
    for k in kernels:
        if k not in KERNELS:
            ap.error(f"unknown kernel {k!r}; choose from {', '.join(KERNELS)}")
    for p in peers:
        if p not in PEERS:
            ap.error(f"unknown peer {p!r}; choose from {', '.join(PEERS)}")
    if args.ab:
        ab_main(args, kernels, windows)
        return

    import numba
    import polars as pl

    d = make_panel(args.days, args.stocks, args.seed)
    print(
        f"panel {args.days:,} days x {args.stocks:,} stocks (float64, C order), "
        f"{np.isnan(d['x']).mean():.1%} NaN in x; numba threads {numba.get_num_threads()}, "
        f"polars threads {pl.thread_pool_size()}, cpus {os.cpu_count()}, "
        f"loadavg {os.getloadavg()[0]:.2f}"
    )
    builders = {
        "numbagg": numbagg_fns,
        "polars-long": polars_long_fns,
        "polars-wide": polars_wide_fns,
        "pandas": pandas_fns,
    }
    head = f"{'kernel':<9}{'w':>4}{'etfflow ms':>12}{'cpu ms':>10}"
    head += "".join(f"{p:>24}" for p in peers)
    if "pandas" in peers and "slope" in kernels:
        head += f"{'pandas-polyfit*':>24}"
    print(
        "\ntime: wall ms, best of N after warm-up (cpu ms: etfflow's process CPU time, all "
        "threads); (x) = peer ms / etfflow ms"
    )
    print(head)
    agreement: list[str] = []
    for w in windows:
        ours = etfflow_fns(d, w)
        theirs = {p: builders[p](d, w) for p in peers}
        for k in kernels:
            ms, _, ref, cpu = best_ms(ours[k], args.repeat)
            line = f"{k:<9}{w:>4}{ms:>12.1f}{cpu:>10.1f}"
            agree = f"{k:<9}{w:>4}"
            for p in peers:
                pms, pn, out, _ = best_ms(theirs[p][k], args.repeat)
                cell = f"{pms:.1f} ({pms / ms:.1f}x)" + ("" if pn == args.repeat else f" b{pn}")
                line += f"{cell:>24}"
                diff, nan_ne = compare(ref, np.asarray(out, dtype=np.float64))
                agree += f"{f'{diff:.1e} / {nan_ne}':>24}"
            if "pandas" in peers and k == "slope":
                pms, diff = polyfit_extrapolated(d, w, args.polyfit_stocks)
                line += f"{f'{pms:,.0f} ({pms / ms:,.0f}x)':>24}"
                agree += f"{f'{diff:.1e} / -':>24}"
            print(line, flush=True)
            agreement.append(agree)
    print("\nagreement with etfflow: max|Δ| / max|etfflow|  /  cells where exactly one is NaN")
    print(
        f"{'kernel':<9}{'w':>4}"
        + "".join(f"{p:>24}" for p in peers)
        + (f"{'pandas-polyfit*':>24}" if "pandas" in peers and "slope" in kernels else "")
    )
    print("\n".join(agreement))
    if "pandas" in peers and "slope" in kernels:
        print(
            f"* rolling.apply(np.polyfit) timed once on {args.polyfit_stocks} stocks, "
            "extrapolated linearly to the full panel; pandas calls it on complete windows "
            "only, so its cost falls as NaN-free windows get rarer with the window length"
        )
    print(f"loadavg at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
