"""PCF import speed: files per second of ``etfflow import pcf`` vs a plain ElementTree loop.

Generates the ``small`` synthetic market (seed 0), writes N of its ETF-days as the exchanges'
PCF XML files (Shanghai ETFs as ``SSEPortfolioCompositionFile``, Shenzhen ones as ``PCFFile``;
UTF-8 and GB18030 alternating) with the test writer, then times in the same process,
alternating, best and median of ``--repeat``:

* ``etfflow parse``: :func:`etfflow.engine.adapters.pcf.parse_pcf_files` (every check, both
  formats, the frames);
* ``etfflow import``: :func:`etfflow.engine.adapters.pcf.import_pcf` into a fresh folder
  (parse + Parquet writes + move into place);
* ``plain ElementTree``: ``ET.parse`` per file, header fields with ``findtext``, components
  appended to lists, one DataFrame at the end; no checks, no GB18030 re-encoding (expat
  cannot read it, so its GB18030 files are decoded by Python first, as etfflow does).

    python benchmarks/bench_import_pcf.py [--files 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from etfflow.data_samples import generate_market
from etfflow.engine.adapters.pcf import import_pcf, parse_pcf_files
from etfflow.engine.loading import open_dataset
from tests.engine.adapters.pcf_writer import write_market_pcf

NS = "{http://ts.szse.cn/Fund}"


def plain_etree(files: list[Path]) -> pl.DataFrame:
    cols: dict[str, list] = {k: [] for k in ("day", "etf", "code", "market", "qty", "flag")}
    for f in files:
        data = f.read_bytes()
        if b"GB18030" in data[:60]:
            text = data.decode("gb18030")
            data = ('<?xml version="1.0"?>' + text[text.index("?>") + 2 :]).encode()
        root = ET.fromstring(data)
        if root.tag == "SSEPortfolioCompositionFile":
            etf, day = root.findtext("FundInstrumentID"), root.findtext("TradingDay")
            for c in root.iter("Component"):
                cols["day"].append(day)
                cols["etf"].append(etf)
                cols["code"].append(c.findtext("InstrumentID"))
                cols["market"].append(c.findtext("UnderlyingSecurityID"))
                cols["qty"].append(float(c.findtext("Quantity")))  # type: ignore[arg-type]
                cols["flag"].append(c.findtext("SubstitutionFlag"))
        else:
            etf, day = root.findtext(NS + "SecurityID"), root.findtext(NS + "TradingDay")
            for c in root.iter(NS + "Component"):
                cols["day"].append(day)
                cols["etf"].append(etf)
                cols["code"].append(c.findtext(NS + "UnderlyingSecurityID"))
                cols["market"].append(c.findtext(NS + "UnderlyingSecurityIDSource"))
                cols["qty"].append(float(c.findtext(NS + "ComponentShare")))  # type: ignore[arg-type]
                cols["flag"].append(c.findtext(NS + "SubstituteFlag"))
    return pl.DataFrame(cols)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        market = generate_market(tmp / "m", size="small", seed=0)
        ds = open_dataset(market)
        pcf = ds.frame("etf_pcf").collect().with_columns(pl.col(pl.Categorical).cast(pl.String))
        keys = pcf.select("date", "etf_code").unique().sort("date", "etf_code").head(args.files)
        pcf = pcf.join(keys, on=["date", "etf_code"])
        t0 = time.perf_counter()
        files = write_market_pcf(
            pcf, ds.frame("etfs").collect(), ds.frame("etf_daily").collect(), tmp / "files"
        )
        size = sum(f.stat().st_size for f in files)
        print(
            f"{len(files):,} files ({size / 1e6:.1f} MB, {pcf.height:,} components) written "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        times: dict[str, list[float]] = {"etfflow parse": [], "etfflow import": [], "plain": []}
        for r in range(args.repeat):
            t0 = time.perf_counter()
            plain = plain_etree(files)
            times["plain"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            _, comp = parse_pcf_files(files)
            times["etfflow parse"].append(time.perf_counter() - t0)
            out = tmp / f"out{r}"
            t0 = time.perf_counter()
            import_pcf([tmp / "files"], out)
            times["etfflow import"].append(time.perf_counter() - t0)
            shutil.rmtree(out)
        assert plain.height == comp.height == pcf.height
        base = statistics.median(times["plain"])
        print(f"{'contender':<16} {'best s':>8} {'median s':>9} {'files/s':>9} {'/ plain':>8}")
        for k, v in times.items():
            med = statistics.median(v)
            print(f"{k:<16} {min(v):8.2f} {med:9.2f} {len(files) / med:9,.0f} {med / base:8.2f}")


if __name__ == "__main__":
    main()
