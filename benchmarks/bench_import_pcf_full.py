"""Full-size PCF history import: files per second, streamed month by month, vs plain ElementTree.

Walks the generated ``full`` synthetic market (``--data``, default ``/work/bench_data/full_seed0``,
read only) month by month. For each month it writes that month's ETF-days as the exchanges'
PCF XML files into a temporary batch folder (the test writer
``tests/engine/adapters/pcf_writer.py``: Shanghai ETFs as ``SSEPortfolioCompositionFile``,
Shenzhen ones as ``PCFFile``, UTF-8 and GB18030 alternating), then times, in the same process
and alternating which goes first:

* ``etfflow``: :func:`etfflow.engine.adapters.pcf.import_pcf` of the batch INTO ONE growing
  dataset folder (parse, every check, merge by ETF-day with what is already there, Parquet
  writes, move into place) -- how a user imports a history, one delivery after another;
* ``plain``: the plain ``xml.etree`` loop of ``bench_import_pcf.py`` on the same files (no
  checks, no merge, nothing written).

Then it deletes the batch and goes on. One progress line per month (flushed, so a partial run
still yields numbers), then totals: files, bytes, files/s both ways and their ratio, the
per-batch import time as the dataset grows (first vs last batches), peak RSS and minor page
faults (``resource.getrusage``) per phase. ``--max-rss-gb`` stops the walk before a month
when the process's resident memory already exceeds it (the machine is shared, no swap).

    nice python benchmarks/bench_import_pcf_full.py [--months N] [--until HH:MM] [--tmp DIR]
        [--max-rss-gb 12]

``--until`` starts no month that would end past that clock time; ``kill PID`` (SIGTERM) stops
the month under way and still prints the totals of the months done.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_import_pcf import plain_etree

from etfflow.engine.adapters.pcf import import_pcf, pcf_files
from etfflow.engine.loading import open_dataset
from tests.engine.adapters.pcf_writer import write_market_pcf

PHASES = ("write", "etfflow", "plain")


def rss_gb() -> float:
    """Current resident set size of this process, GB (``/proc/self/statm``)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e9


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # KiB on Linux


def minflt() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def du(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def month_starts(first: dt.date, last: dt.date) -> list[dt.date]:
    out, d = [], first.replace(day=1)
    while d <= last:
        out.append(d)
        d = (d.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return out


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("/work/bench_data/full_seed0"))
    ap.add_argument("--months", type=int, default=0, help="months to walk (0: all)")
    ap.add_argument("--tmp", type=Path, default=None, help="scratch folder (default: system tmp)")
    ap.add_argument("--max-rss-gb", type=float, default=12.0)
    ap.add_argument(
        "--until",
        default="",
        help="HH:MM (local clock): start no month that the last one's duration would push past it",
    )
    args = ap.parse_args()
    deadline = None
    if args.until:
        hh, mm = map(int, args.until.split(":"))
        now = dt.datetime.now()
        deadline = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
        if deadline < now:
            deadline += dt.timedelta(days=1)
    signal.signal(signal.SIGTERM, _stop)  # a `kill PID` still prints the totals so far

    ds = open_dataset(args.data)
    etfs = ds.frame("etfs").collect()
    daily = ds.frame("etf_daily").collect()
    pcf_all = ds.frame("etf_pcf")
    first, last = daily["date"].min(), daily["date"].max()
    assert isinstance(first, dt.date) and isinstance(last, dt.date)
    months = month_starts(first, last)
    n_months = len(months)
    ends = [*months[1:], last + dt.timedelta(days=1)]  # each month's end, from the full walk
    if args.months:
        months = months[: args.months]
    log(
        f"{args.data}: {daily.height:,} ETF-days, {n_months} months {first}..{last}; "
        f"walking {len(months)}"
    )
    header = (
        f"{'month':<8} {'files':>6} {'MB':>6} {'write s':>7} {'etfflow s':>9} {'plain s':>7} "
        f"{'etf f/s':>7} {'plain f/s':>9} {'ratio':>5} {'dataset MB':>10} {'rss GB':>6}"
    )
    rows: list[dict[str, float]] = []
    faults = dict.fromkeys(PHASES, 0)
    tot = {"files": 0, "bytes": 0, "components": 0}
    stopped = ""
    with tempfile.TemporaryDirectory(dir=args.tmp, prefix="pcf_full_") as tmp_s:
        tmp = Path(tmp_s)
        out = tmp / "dataset"
        log(header)
        for i, m in enumerate(months):
            last_wall = sum(rows[-1][k] for k in PHASES) if rows else 0.0
            if deadline and dt.datetime.now() + dt.timedelta(seconds=1.2 * last_wall) > deadline:
                stopped = f"stopped before {m:%Y-%m}: --until {args.until}"
                break
            if rss_gb() > args.max_rss_gb:
                stopped = f"stopped before {m:%Y-%m}: RSS {rss_gb():.1f} GB > --max-rss-gb"
                break
            batch = tmp / f"batch_{m:%Y%m}"
            try:
                row = one_month(m, ends[i], i, batch, out, pcf_all, etfs, daily, faults)
            except Stopped:
                stopped = f"stopped by SIGTERM during {m:%Y-%m}"
                break
            row["year"], row["month"] = m.year, m.month
            rows.append(row)
            for k in ("files", "bytes", "components"):
                tot[k] += int(row[k])
            log(
                f"{m:%Y-%m}  {row['files']:6.0f} {row['bytes'] / 1e6:6.0f} {row['write']:7.1f} "
                f"{row['etfflow']:9.1f} {row['plain']:7.1f} {row['files'] / row['etfflow']:7.0f} "
                f"{row['files'] / row['plain']:9.0f} {row['etfflow'] / row['plain']:5.2f} "
                f"{row['dataset'] / 1e6:10.0f} {rss_gb():6.2f}"
            )
    report(rows, tot, faults, n_months, stopped)


class Stopped(BaseException):
    pass


def _stop(signum: int, frame: object) -> None:
    raise Stopped


def one_month(
    m: dt.date,
    end: dt.date,
    i: int,
    batch: Path,
    out: Path,
    pcf_all: pl.LazyFrame,
    etfs: pl.DataFrame,
    daily: pl.DataFrame,
    faults: dict[str, int],
) -> dict[str, float]:
    """Write month ``m``'s files into ``batch``, time both readers on them, delete them."""
    f0, t0 = minflt(), time.perf_counter()
    part = pcf_all.filter((pl.col("date") >= m) & (pl.col("date") < end)).collect()
    day = daily.filter((pl.col("date") >= m - dt.timedelta(days=31)) & (pl.col("date") < end))
    try:
        files = write_market_pcf(part, etfs, day, batch)
        t_write = time.perf_counter() - t0
        faults["write"] += minflt() - f0
        size = sum(f.stat().st_size for f in files)
        assert len(pcf_files([batch])) == len(files)
        t: dict[str, float] = {}
        n_plain = 0
        for who in ("etfflow", "plain") if i % 2 == 0 else ("plain", "etfflow"):
            f0, t0 = minflt(), time.perf_counter()
            if who == "etfflow":
                summary = import_pcf([batch], out)
            else:
                n_plain = plain_etree(files).height
            t[who] = time.perf_counter() - t0
            faults[who] += minflt() - f0
    finally:
        shutil.rmtree(batch, ignore_errors=True)
    n_comp = sum(summary.counts.values())
    assert summary.n_files == len(files) and n_plain == n_comp, (
        f"{m:%Y-%m}: etfflow read {n_comp} components, plain {n_plain}"
    )
    return {
        "files": len(files),
        "bytes": size,
        "components": n_comp,
        "write": t_write,
        "etfflow": t["etfflow"],
        "plain": t["plain"],
        "dataset": du(out),
    }


def report(
    rows: list[dict[str, float]],
    tot: dict[str, int],
    faults: dict[str, int],
    n_months: int,
    stopped: str,
) -> None:
    if not rows:
        log(f"no month completed. {stopped}")
        return
    t_etf = sum(r["etfflow"] for r in rows)
    t_plain = sum(r["plain"] for r in rows)
    t_write = sum(r["write"] for r in rows)
    print(
        f"\n{len(rows)} of {n_months} months ({len(rows) / n_months:.0%})"
        + (f"; {stopped}" if stopped else "")
    )
    print(
        f"files {tot['files']:,}, {tot['bytes'] / 1e9:.2f} GB of XML, "
        f"{tot['components']:,} components; final dataset {rows[-1]['dataset'] / 1e6:,.0f} MB"
    )
    print(f"writing the XML (test writer, not timed against): {t_write:,.0f} s")
    print(
        f"etfflow import (parse + merge + write): {t_etf:,.0f} s, "
        f"{tot['files'] / t_etf:,.0f} files/s"
    )
    print(
        f"plain xml.etree loop:                   {t_plain:,.0f} s, "
        f"{tot['files'] / t_plain:,.0f} files/s"
    )
    print(f"ratio etfflow / plain (time): {t_etf / t_plain:.2f}")

    # per-file import time as the dataset grows; the plain loop's per-file time is the control
    k = max(1, min(3, len(rows) // 3))
    for name, sel in (("first", rows[:k]), ("last", rows[-k:])):
        e = sum(r["etfflow"] for r in sel) / sum(r["files"] for r in sel) * 1e3
        p = sum(r["plain"] for r in sel) / sum(r["files"] for r in sel) * 1e3
        print(
            f"{name} {k} batches: etfflow {e:.2f} ms/file, plain {p:.2f} ms/file, "
            f"ratio {e / p:.2f}, dataset {sel[-1]['dataset'] / 1e6:,.0f} MB"
        )
    # per calendar year: a month's import rewrites only its year's partitions, so the cost per
    # file may grow within a year (the partition grows) but must not grow from year to year
    for y in sorted({int(r["year"]) for r in rows}):
        sel = [r for r in rows if r["year"] == y]
        n = sum(r["files"] for r in sel)
        e = sum(r["etfflow"] for r in sel) / n * 1e3
        p = sum(r["plain"] for r in sel) / n * 1e3
        jan = [r for r in sel if r["month"] <= 3]
        dec = [r for r in sel if r["month"] >= 10]
        q = "".join(
            f", {name} {sum(r['etfflow'] for r in g) / sum(r['files'] for r in g) * 1e3:.2f}"
            for name, g in (("Jan-Mar", jan), ("Oct-Dec", dec))
            if g
        )
        print(
            f"{y}: {len(sel)} months, {n:,.0f} files, etfflow {e:.2f} ms/file{q}; "
            f"plain {p:.2f} ms/file; ratio {e / p:.2f}"
        )
    ratios = [r["etfflow"] / r["plain"] for r in rows]
    print(
        f"per-batch ratio: median {statistics.median(ratios):.2f}, "
        f"min {min(ratios):.2f}, max {max(ratios):.2f}"
    )
    print(
        f"peak RSS {peak_gb():.2f} GB; minor page faults: "
        + ", ".join(f"{k} {v / 1e6:.2f}M" for k, v in faults.items())
    )


if __name__ == "__main__":
    main()
