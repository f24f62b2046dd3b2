"""Cross-sectional processing benchmark: etfflow vs pandas and Polars, same run.

One seeded factor panel at full size (1,250 dates × 5,300 stocks, 30 level-1 industries,
4 boards, 5% missing, heavy tails) goes through winsor (median ± 5·MAD), industry-median
fill, z-score and neutralisation on industry + log float cap + board dummies:

- etfflow: each step on its own (``winsorize_mad``, ``fill_group_median``, ``zscore``,
  ``neutralize``) and the whole pipeline (``apply_steps``, one fused pass per date);
- pandas, the way researchers do it today: ``groupby("date").transform`` for winsor / fill /
  z-score and a per-date loop of ``get_dummies`` + ``np.linalg.lstsq`` for the regression;
  and the lean version of that loop in plain NumPy (one-hot by indexing + ``lstsq``);
- Polars expressions for winsor / fill / z-score (``median().over("date")`` ...) on a long
  frame (no regression: Polars has no per-group OLS residual).

Every contender's output is checked against etfflow's (max abs difference printed). Times
are wall-clock, best of ``--repeat`` after a warm-up (numba compile); the machine is shared,
so read the ratios rather than the absolute numbers. The slow pandas regression loop runs
once (``--pandas-days`` dates, scaled to the full panel).

Usage::

    python benchmarks/bench_processing.py [--repeat 5] [--pandas-days 1250]
    python benchmarks/bench_processing.py --ab /path/to/other/checkout [--repeat 11]

``--ab DIR`` times this checkout's steps and pipeline against the ``processing.py`` of ``DIR``
(e.g. the base commit, ``git archive <commit> | tar -x -C DIR``; ``apply_steps`` is taken from
``processing_pipeline.py`` where it has one) in the same process: calls alternate, the ratio is
taken pair by pair and its median printed, and the outputs must be bit-identical. No peers.

Planning target: winsor + fill + zscore + neutralize (industry, log cap, board) <= 0.3 s.
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

import numba
import numpy as np
import pandas as pd
import polars as pl

from etfflow.factors.processing import (
    fill_group_median,
    neutralize,
    winsorize_mad,
    zscore,
)
from etfflow.factors.processing_pipeline import apply_steps

T, N, N_IND, N_BOARD = 1250, 5300, 30, 4
K = 5.0
PIPELINE = "winsor(k=5),fill,zscore,neutralize(industry,log_cap,board)"


def make_panel(seed: int = 0, t: int = T, n: int = N):
    """Factor (heavy tails, 5% NaN), industries (5% of stocks move once), boards, log cap."""
    rng = np.random.default_rng(seed)
    x = rng.standard_t(3, size=(t, n))
    x[rng.random((t, n)) < 0.05] = np.nan
    ind0 = rng.integers(0, N_IND, size=n)
    ind1 = np.where(rng.random(n) < 0.05, rng.integers(0, N_IND, size=n), ind0)
    switch = rng.integers(0, t, size=n)
    groups = np.where(np.arange(t)[:, None] < switch[None, :], ind0, ind1).astype(np.int16)
    boards = rng.integers(0, N_BOARD, size=n).astype(np.int16)
    log_cap = np.log(rng.lognormal(22.5, 1.0, size=n))[None, :] + rng.normal(0, 0.05, (t, n))
    x += 0.3 * (log_cap - 22.5)  # a size tilt for the regression to remove
    return x, groups, boards, log_cap


def best(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    out = fn()  # warm-up (numba compile / caches)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


# --------------------------------------------------------------------------- pandas peer
def long_frame(x, groups, boards, log_cap) -> pd.DataFrame:
    t, n = x.shape
    return pd.DataFrame(
        {
            "date": np.repeat(np.arange(t), n),
            "code": np.tile(np.arange(n), t),
            "industry": groups.ravel(),
            "board": np.tile(boards, t),
            "log_cap": log_cap.ravel(),
            "f": x.ravel(),
        }
    )


def pandas_winsor(df: pd.DataFrame, col: str = "f") -> pd.Series:
    by = df["date"]
    med = df[col].groupby(by).transform("median")
    mad = (df[col] - med).abs().groupby(by).transform("median")
    return df[col].clip(med - K * mad, med + K * mad)


def pandas_fill(df: pd.DataFrame, col: str) -> pd.Series:
    med = df.groupby(["date", "industry"])[col].transform("median")
    return df[col].fillna(med)


def pandas_zscore(df: pd.DataFrame, col: str) -> pd.Series:
    g = df.groupby("date")[col]
    return (df[col] - g.transform("mean")) / g.transform("std")


def pandas_neutralize(df: pd.DataFrame, col: str, days: int) -> pd.Series:
    parts = []
    for _, sub in df[df["date"] < days].groupby("date"):
        sub = sub.dropna(subset=[col, "log_cap"])
        dummies = pd.get_dummies(
            sub[["industry", "board"]], columns=["industry", "board"], drop_first=True, dtype=float
        )
        design = np.column_stack([np.ones(len(sub)), sub["log_cap"].to_numpy(), dummies])
        y = sub[col].to_numpy()
        beta, *_ = np.linalg.lstsq(design, y, rcond=None)
        parts.append(pd.Series(y - design @ beta, index=sub.index))
    return pd.concat(parts).reindex(df.index)


def numpy_lstsq_neutralize(x, groups, boards, log_cap, days: int) -> np.ndarray:
    """The lean per-date loop: one-hot design by indexing, ``np.linalg.lstsq``."""
    out = np.full(x.shape, np.nan)
    eye_i, eye_b = np.eye(N_IND), np.eye(N_BOARD)
    for t in range(days):
        ok = np.isfinite(x[t]) & np.isfinite(log_cap[t]) & (groups[t] >= 0)
        design = np.column_stack(
            [
                np.ones(ok.sum()),
                log_cap[t, ok],
                eye_i[groups[t, ok]][:, 1:],
                eye_b[boards[ok]][:, 1:],
            ]
        )
        beta, *_ = np.linalg.lstsq(design, x[t, ok], rcond=None)
        out[t, ok] = x[t, ok] - design @ beta
    return out


def pandas_pipeline(df: pd.DataFrame, days: int) -> pd.Series:
    d = df[df["date"] < days].copy()
    d["w"] = pandas_winsor(d)
    d["w"] = pandas_fill(d, "w")
    d["w"] = pandas_zscore(d, "w")
    return pandas_neutralize(d, "w", days)


# --------------------------------------------------------------------------- polars peer
def polars_frame(df: pd.DataFrame) -> pl.DataFrame:
    return pl.from_pandas(df[["date", "code", "industry", "f"]]).with_columns(
        pl.col("f").fill_nan(None)
    )


def polars_winsor(lf: pl.LazyFrame) -> pl.LazyFrame:
    med = pl.col("f").median().over("date")
    mad = (pl.col("f") - med).abs().median().over("date")
    return lf.with_columns(pl.col("f").clip(med - K * mad, med + K * mad))


def polars_fill(lf: pl.LazyFrame) -> pl.LazyFrame:
    return lf.with_columns(pl.col("f").fill_null(pl.col("f").median().over("date", "industry")))


def polars_zscore(lf: pl.LazyFrame) -> pl.LazyFrame:
    f = pl.col("f")
    return lf.with_columns((f - f.mean().over("date")) / f.std(ddof=1).over("date"))


def polars_dense(df: pl.DataFrame, shape: tuple[int, int]) -> np.ndarray:
    out = np.full(shape, np.nan)
    d = df.sort("date", "code")  # streaming collect: row order is not guaranteed
    out[d["date"].to_numpy(), d["code"].to_numpy()] = d["f"].fill_null(np.nan).to_numpy()
    return out


def maxdiff(a: np.ndarray, b: np.ndarray) -> float:
    both = np.isfinite(a) & np.isfinite(b)
    if (np.isfinite(a) != np.isfinite(b)).any():
        return float("inf")
    return float(np.max(np.abs(a[both] - b[both]), initial=0.0))


def load_module(path: Path, name: str) -> ModuleType:
    """Import the file ``path`` as a module called ``name`` (another checkout's version)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def ab_main(args: argparse.Namespace) -> None:
    """This checkout's steps vs another checkout's, alternating calls, median pair ratio."""
    folder = Path(args.ab) / "etfflow" / "factors"
    base = load_module(folder / "processing.py", "processing_base")
    pipe = folder / "processing_pipeline.py"
    base_apply = load_module(pipe, "pipeline_base").apply_steps if pipe.is_file() else None
    base_apply = base_apply or base.apply_steps
    x, groups, boards, log_cap = make_panel(args.seed)
    kw = {"groups": groups, "log_cap": log_cap, "boards": boards}
    this = {
        "winsorize_mad": lambda: winsorize_mad(x, k=K),
        "fill_group_median": lambda: fill_group_median(x, groups),
        "zscore": lambda: zscore(x),
        "neutralize": lambda: neutralize(x, **kw),
        "apply_steps": lambda: apply_steps(x, PIPELINE, **kw),
    }
    other = {
        "winsorize_mad": lambda: base.winsorize_mad(x, k=K),
        "fill_group_median": lambda: base.fill_group_median(x, groups),
        "zscore": lambda: base.zscore(x),
        "neutralize": lambda: base.neutralize(x, **kw),
        "apply_steps": lambda: base_apply(x, PIPELINE, **kw),
    }
    print(
        f"A/B: this checkout vs {args.ab}; panel {x.shape[0]:,} x {x.shape[1]:,}; numba threads"
        f" {numba.get_num_threads()}; {args.repeat} alternating pairs; loadavg "
        f"{os.getloadavg()[0]:.2f}"
    )
    print(f"{'step':<20}{'this ms':>10}{'base ms':>10}{'this/base':>11}  identical")
    ratios = []
    for name in this:
        a, b = this[name], other[name]
        out_a, out_b = a(), b()
        ta: list[float] = []
        tb: list[float] = []
        for i in range(args.repeat):
            for fn, ts in ((a, ta), (b, tb)) if i % 2 == 0 else ((b, tb), (a, ta)):
                t0 = time.perf_counter()
                fn()
                ts.append((time.perf_counter() - t0) * 1e3)
        r = statistics.median(p / q for p, q in zip(ta, tb, strict=True))
        ratios.append(r)
        same = np.array_equal(out_a, out_b, equal_nan=True)
        med_a, med_b = statistics.median(ta), statistics.median(tb)
        print(f"{name:<20}{med_a:>10.1f}{med_b:>10.1f}{r:>11.3f}  {same}")
        if not same:
            raise SystemExit(f"{name}: outputs differ from {args.ab}")
    print(
        f"median of the ratios {statistics.median(ratios):.3f}, max {max(ratios):.3f}; "
        f"loadavg at the end {os.getloadavg()[0]:.2f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--pandas-days", type=int, default=T, help="dates in the pandas OLS loop")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ab", metavar="DIR", help="time against DIR/etfflow/factors/processing.py")
    args = ap.parse_args()
    if args.ab:
        ab_main(args)
        return

    x, groups, boards, log_cap = make_panel(args.seed)
    shape = x.shape
    print(
        f"panel {shape[0]:,} dates x {shape[1]:,} stocks, {N_IND} industries, {N_BOARD} boards;"
        f" numba threads {numba.get_num_threads()}; best of {args.repeat} (wall clock)"
    )
    t_w, w = best(lambda: winsorize_mad(x, k=K), args.repeat)
    t_f, f = best(lambda: fill_group_median(w, groups), args.repeat)
    t_z, z = best(lambda: zscore(f), args.repeat)
    t_n, e = best(lambda: neutralize(z, groups=groups, log_cap=log_cap, boards=boards), args.repeat)
    kw = {"groups": groups, "log_cap": log_cap, "boards": boards}
    t_p, pipe = best(lambda: apply_steps(x, PIPELINE, **kw), args.repeat)
    c0 = time.process_time()
    apply_steps(x, PIPELINE, **kw)
    cpu_p = time.process_time() - c0
    assert maxdiff(pipe, e) == 0.0, "fused pipeline differs from the steps one by one"

    # pandas
    df = long_frame(x, groups, boards, log_cap)
    pd_w_t, pd_w = best(lambda: pandas_winsor(df), 1)
    dfw = df.assign(w=pd_w.to_numpy())
    pd_f_t, pd_f = best(lambda: pandas_fill(dfw, "w"), 1)
    dff = df.assign(w=pd_f.to_numpy())
    pd_z_t, pd_z = best(lambda: pandas_zscore(dff, "w"), 1)
    dfz = df.assign(w=pd_z.to_numpy())
    days = min(args.pandas_days, shape[0])
    t0 = time.perf_counter()
    pd_n = pandas_neutralize(dfz, "w", days)
    pd_n_t = (time.perf_counter() - t0) * shape[0] / days
    t0 = time.perf_counter()
    np_n = numpy_lstsq_neutralize(z, groups, boards, log_cap, days)
    np_n_t = (time.perf_counter() - t0) * shape[0] / days
    t0 = time.perf_counter()
    pandas_pipeline(df, days)
    pd_p_t = (time.perf_counter() - t0) * shape[0] / days

    # polars
    pdf = polars_frame(df)
    pl_w_t, pl_w = best(lambda: polars_winsor(pdf.lazy()).collect(), args.repeat)
    pl_f_t, pl_f = best(
        lambda: polars_fill(
            pdf.lazy().with_columns(f=pl.Series(w.ravel()).fill_nan(None))
        ).collect(),
        args.repeat,
    )
    pl_z_t, pl_z = best(
        lambda: polars_zscore(
            pdf.lazy().with_columns(f=pl.Series(f.ravel()).fill_nan(None))
        ).collect(),
        args.repeat,
    )
    pl_p_t, _ = best(
        lambda: polars_zscore(polars_fill(polars_winsor(pdf.lazy()))).collect(), args.repeat
    )

    dense_pd = {
        "winsor": pd_w.to_numpy().reshape(shape),
        "fill": pd_f.to_numpy().reshape(shape),
        "zscore": pd_z.to_numpy().reshape(shape),
        "neutralize": pd_n.to_numpy().reshape(shape)[:days],
    }
    ours = {"winsor": w, "fill": f, "zscore": z, "neutralize": e[:days]}
    dense_pl = {
        "winsor": polars_dense(pl_w, shape),
        "fill": polars_dense(pl_f, shape),
        "zscore": polars_dense(pl_z, shape),
    }

    def cell(t_peer: float | None, t_ours: float | None) -> str:
        if t_peer is None:
            return " " * 19
        ratio = f"{t_peer / t_ours:7.1f}x" if t_ours else " " * 8
        return f"{t_peer:11.3f}{ratio}"

    print(
        f"\n{'step':<36}{'etfflow s':>11}{'pandas s':>11}{'ratio':>8}{'polars s':>11}{'ratio':>8}"
    )
    for name, t_ours, t_pd, t_pl in (
        ("winsor (median ± 5 MAD)", t_w, pd_w_t, pl_w_t),
        ("fill (industry median)", t_f, pd_f_t, pl_f_t),
        ("zscore (ddof=1)", t_z, pd_z_t, pl_z_t),
        ("neutralize (industry+logcap+board)", t_n, pd_n_t, None),
        ("  peer: numpy one-hot + lstsq loop", t_n, np_n_t, None),
        ("winsor+fill+zscore (one by one)", t_w + t_f + t_z, pd_w_t + pd_f_t + pd_z_t, pl_p_t),
        ("all four, one by one", t_w + t_f + t_z + t_n, None, None),
        ("apply_steps (fused pipeline)", t_p, pd_p_t, None),
    ):
        ours_s = f"{t_ours:11.3f}"
        print(f"{name:<36}{ours_s}{cell(t_pd, t_ours)}{cell(t_pl, t_ours)}")
    print("(polars 'winsor+fill+zscore' is one lazy query; pandas pipeline = its four steps)")
    if days < shape[0]:
        print(f"(OLS loops timed on {days} dates and scaled to {shape[0]})")
    print("\nmax |etfflow - peer| (same NaN pattern required, else inf):")
    for k in ours:
        line = f"  {k:<11} pandas {maxdiff(ours[k], dense_pd[k]):.2e}"
        if k in dense_pl:
            line += f"   polars {maxdiff(ours[k], dense_pl[k]):.2e}"
        if k == "neutralize":
            line += f"   numpy lstsq loop {maxdiff(ours[k], np_n[:days]):.2e}"
        print(line)
    target = t_p <= 0.3
    print(f"\ntarget: pipeline <= 0.3 s -> {t_p:.3f} s ({'met' if target else 'NOT met'});")
    print(f"CPU time of one pipeline run, all threads: {cpu_p:.3f} s")


if __name__ == "__main__":
    main()
