"""ETF tables of a Tushare raw folder: ``etfs``, ``etf_daily``, ``etf_pcf`` and
``holding_weights`` (from the daily baskets, the ETFs' own disclosures and index weights)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

import polars as pl

from etfflow.engine.adapters.pcf import CASH_CODES, FLAGS, HEADER_TABLE
from etfflow.engine.adapters.tushare.categories import CategoryRules
from etfflow.engine.adapters.tushare.convert_read import (
    FILE,
    PCT,
    THOUSAND,
    WAN,
    Counts,
    _check_codes,
    _count,
    _fail,
    check_amount_unit,
    check_unit,
    raw_files_hint,
)
from etfflow.engine.loading import scan_table, table_path
from etfflow.engine.schemas import TABLES
from etfflow.exceptions import SourceFileError

#: sub_flag of etf_sh_cons / etf_sz_cons (text, or the exchanges' digit codes) -> contract.
SUB_FLAGS: Final[dict[str, str]] = {
    "禁止": "forbidden",
    "允许": "allowed",
    "必须": "required",
    "退补": "allowed",
    **{str(k): v for k, v in FLAGS.items()},
}


#: The count of the ETFs kept in ``etfs`` with a null (unknown) creation unit.
NO_UNIT_COUNT: Final = (
    "etfs: ETFs without a creation unit (etf_bs_*_detail, pcf_header, --creation-units) kept "
    "with a null unit (weights mode, PCF at NAV valuation; left out at basket valuation)"
)
#: The count of their ``etf_daily`` rows (ETF-days).
UNITLESS_DAYS_COUNT: Final = "etf_daily: ETF-days of ETFs without a creation unit (kept)"
#: Where a creation unit may come from, by precedence on the same day (the earliest dated
#: value of an ETF is kept; an undated --creation-units row comes before every dated one).
UNIT_SOURCES: Final = ("--creation-units", "etf_bs_*_detail", "pcf_header")
UNIT_SCHEMA: Final = pl.Schema(
    {"etf_code": pl.String, "date": pl.Date, "creation_unit": pl.Float64, "source": pl.String}
)


def unit_observations(
    raw: Mapping[str, pl.DataFrame | None],
    pcf_header: pl.DataFrame | None = None,
    given: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Every dated creation unit at hand (:data:`UNIT_SCHEMA`): the PCF detail endpoints
    (``trade_date``), a ``pcf_header`` of ``etfflow import pcf`` (``date``) and the rows of a
    ``--creation-units`` file (``start_date``, null when not given)."""
    parts = [
        df.select(
            pl.col("ts_code").alias("etf_code"),
            pl.col("trade_date").alias("date"),
            pl.col("creation_redemption_unit").alias("creation_unit"),
            pl.lit("etf_bs_*_detail").alias("source"),
        )
        for api in ("etf_bs_sh_detail", "etf_bs_sz_detail")
        if (df := raw.get(api)) is not None and df.height
    ]
    if pcf_header is not None and pcf_header.height:
        parts.append(
            pcf_header.select(
                pl.col("etf_code").cast(pl.String),
                "date",
                "creation_unit",
                pl.lit("pcf_header").alias("source"),
            )
        )
    if given is not None and given.height:
        parts.append(
            given.select(
                "etf_code", "date", "creation_unit", pl.lit("--creation-units").alias("source")
            )
        )
    if not parts:
        return pl.DataFrame(schema=UNIT_SCHEMA)
    return pl.concat([x.cast(dict(UNIT_SCHEMA)) for x in parts]).filter(  # type: ignore[arg-type]
        pl.col("creation_unit").is_not_null() & (pl.col("creation_unit") > 0)
    )


def _creation_units(units: pl.DataFrame, counts: Counts) -> pl.DataFrame:
    """The creation unit of each ETF: its earliest dated value (the contract keeps one per
    ETF; later changes are counted; ties by :data:`UNIT_SOURCES`), and where it came from."""
    if units.height == 0:
        return pl.DataFrame(
            schema={"etf_code": pl.String, "creation_unit": pl.Float64, "source": pl.String}
        )
    rank = pl.col("source").replace_strict(
        {s: i for i, s in enumerate(UNIT_SOURCES)}, return_dtype=pl.Int32
    )
    units = units.sort(pl.col("date"), rank, nulls_last=False)
    changed = units.group_by("etf_code").agg(pl.col("creation_unit").n_unique() > 1)
    _count(
        counts,
        "etfs: ETFs whose creation unit changed (first one kept)",
        int(changed["creation_unit"].sum()),
    )
    return units.group_by("etf_code", maintain_order=True).agg(
        pl.col("creation_unit").first(), pl.col("source").first()
    )


#: The ``source`` of a creation unit kept from the dataset folder's own ``etfs`` table.
KEPT_UNIT_SOURCE: Final = "the dataset's etfs (earlier import)"


def etfs_table(
    raw: Mapping[str, pl.DataFrame | None],
    rules: CategoryRules,
    counts: Counts,
    units: pl.DataFrame | None = None,
    no_unit: list[str] | None = None,
    kept_units: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """``etfs`` from ``etf_basic`` (+ ``fund_basic`` for type and delisting, :mod:`categories`
    for the category) and the creation units ``units`` (:func:`unit_observations`; default
    the PCF detail endpoints only), else ``kept_units`` (``etf_code``, ``creation_unit``: the
    dataset's ``etfs`` before the import, :func:`dataset_creation_units`). An ETF with no
    unit anywhere is kept with a null ``creation_unit`` (unknown: the weights look-through
    and the PCF one at NAV valuation use it, basket valuation leaves it out); their codes are
    appended to ``no_unit``."""
    basic = raw["etf_basic"]
    assert basic is not None
    _check_codes(basic, "etf_basic", "ts_code")
    e = basic
    for c in ("index_name", "cname", "etf_type"):
        if c not in e.columns:
            e = e.with_columns(pl.lit(None, pl.String).alias(c))
    fb = raw.get("fund_basic")
    if fb is not None:
        f = fb.select(
            "ts_code",
            pl.col("fund_type").alias("_fund_type"),
            (
                pl.col("invest_type") if "invest_type" in fb.columns else pl.lit(None, pl.String)
            ).alias("_invest_type"),
            (pl.col("delist_date") if "delist_date" in fb.columns else pl.lit(None, pl.Date)).alias(
                "delist_date"
            ),
        ).unique("ts_code", keep="last")
        e = e.join(f, on="ts_code", how="left")
    else:
        e = e.with_columns(
            pl.lit(None, pl.String).alias("_fund_type"),
            pl.lit(None, pl.String).alias("_invest_type"),
            pl.lit(None, pl.Date).alias("delist_date"),
        )
    equity = (pl.col("etf_type").is_null() | (pl.col("etf_type") == "境内")) & (
        pl.col("_fund_type").is_null() | (pl.col("_fund_type") == "股票型")
    )
    _count(counts, "etf_basic: non-equity or QDII ETFs left out", e.filter(~equity).height)
    e = e.filter(equity)
    bj = e["ts_code"].str.ends_with(".BJ")
    _count(counts, "etf_basic: Beijing ETFs left out", int(bj.sum()))
    e = e.filter(~bj)
    unlisted = e["list_date"].is_null()
    _count(counts, "etf_basic: ETFs without a list date left out", int(unlisted.sum()))
    e = e.filter(~unlisted)
    units = unit_observations(raw) if units is None else units
    e = e.rename({"ts_code": "etf_code"}).join(
        _creation_units(units, counts), on="etf_code", how="left"
    )
    if kept_units is not None and kept_units.height:
        kept = kept_units.select("etf_code", pl.col("creation_unit").alias("_kept"))
        e = (
            e.join(kept, on="etf_code", how="left")
            .with_columns(
                pl.when(pl.col("creation_unit").is_null() & pl.col("_kept").is_not_null())
                .then(pl.lit(KEPT_UNIT_SOURCE))
                .otherwise(pl.col("source"))
                .alias("source"),
                pl.coalesce("creation_unit", "_kept").alias("creation_unit"),
            )
            .drop("_kept")
        )
    missing = e["creation_unit"].is_null()
    for src, n in e.group_by("source").len().drop_nulls().sort("source").iter_rows():
        if src != "etf_bs_*_detail":
            _count(counts, f"etfs: creation units taken from {src}", n)
    _count(counts, NO_UNIT_COUNT, int(missing.sum()))
    if no_unit is not None:
        no_unit.extend(e.filter(missing)["etf_code"].to_list())
    cats = [
        rules.category(code, name)
        for code, name in zip(e["index_code"], e["index_name"], strict=True)
    ]
    e = e.with_columns(pl.Series("category", cats, dtype=pl.String))
    bad = e["category"].is_null()
    if bad.any():
        rows = e.filter(bad).select("etf_code", "csname", "index_code", "index_name", FILE)
        raise SourceFileError(
            "tushare endpoint 'etf_basic': the tracked index of these ETFs is neither a known "
            "broad index nor named, so its category cannot be decided",
            file=rows[FILE][0],
            table="etf_basic",
            column="index_code",
            rule="unparsable_value",
            examples=rows.drop(FILE),
            n_rows=rows.height,
            hint='give it in a --categories file: [codes] "<index_code>" = "sector"',
        )
    text = pl.concat_str(
        [pl.col(c).fill_null("") for c in ("csname", "cname", "_invest_type")], separator="|"
    )
    return e.select(
        "etf_code",
        pl.col("csname").alias("name"),
        "category",
        "index_code",
        text.str.contains("增强").alias("is_enhanced"),
        "creation_unit",
        "list_date",
        "delist_date",
    ).sort("etf_code")


def etf_daily_table(
    raw: Mapping[str, pl.DataFrame | None],
    etfs: pl.DataFrame,
    counts: Counts,
    no_unit: Sequence[str] = (),
) -> pl.DataFrame:
    """``etf_daily`` from ``etf_share_size`` (+ ``fund_daily`` for the traded amount: on a
    day ``fund_daily`` has rows for, an ETF without one did not trade, amount 0, counted; on a
    day it has none, the amount is null). ``no_unit``: ETFs of ``etfs`` with a null creation
    unit (their rows are kept and counted)."""
    size = raw["etf_share_size"]
    assert size is not None
    check_unit(
        size.filter(pl.col("total_share") > 0),
        "etf_share_size",
        "total_size",
        pl.col("total_size") / (pl.col("total_share") * pl.col("nav")),
        "万元 (total_share in 万份)",
        "total_size / (total_share × nav)",
    )
    s = size.filter(pl.col("ts_code").is_in(etfs["etf_code"].implode()))
    unitless = int(s["ts_code"].is_in(list(no_unit)).sum())
    _count(counts, UNITLESS_DAYS_COUNT, unitless)
    _count(
        counts,
        "etf_share_size: rows of other ETFs not in etfs (left out)",
        size.height - s.height,
    )
    out = s.select(
        pl.col("trade_date").alias("date"),
        pl.col("ts_code").alias("etf_code"),
        (pl.col("total_share") * WAN).alias("shares"),
        "nav",
        *(["close"] if "close" in s.columns else []),
        FILE,
    )
    bad = out["nav"].is_null() | out["shares"].is_null()
    if bad.any():
        rows = out.filter(bad)
        _fail("etf_share_size", rows[FILE][0], "nav", "is empty", rows, int(bad.sum()))
    fd = raw.get("fund_daily")
    if fd is not None:
        check_amount_unit(fd, "fund_daily")
        traded = fd.select(
            pl.col("trade_date").alias("date"),
            pl.col("ts_code").alias("etf_code"),
            (pl.col("amount") * THOUSAND).alias("amount"),
            pl.lit(True).alias("_row"),
        ).unique(["date", "etf_code"], keep="last")
        fetched = fd["trade_date"].unique().implode()
        _count(
            counts,
            "fund_daily: rows of funds not in etfs (LOFs, other funds; left out)",
            int((~fd["ts_code"].is_in(etfs["etf_code"].implode())).sum()),
        )
        out = out.join(traded, on=["date", "etf_code"], how="left")
        no_row = out["_row"].is_null()
        on_fetched = out["date"].is_in(fetched)
        _count(
            counts,
            "etf_daily: ETF-days without a fund_daily row (not traded: amount 0)",
            int((no_row & on_fetched).sum()),
        )
        _count(
            counts,
            "etf_daily: ETF-days of days fund_daily was not fetched for (amount null)",
            int((no_row & ~on_fetched).sum()),
        )
        out = out.with_columns(
            pl.when(pl.col("_row").is_null() & pl.col("date").is_in(fetched))
            .then(0.0)
            .otherwise(pl.col("amount"))
            .alias("amount")
        ).drop("_row")
    cols = [c for c in TABLES["etf_daily"].columns if c in out.columns]
    return out.select(cols).sort("date", "etf_code")


def _fail_cons(cons: pl.DataFrame, bad: pl.Series, field_: str, problem: str) -> None:
    """Stop on the ``bad`` rows of the basket endpoints (named after their endpoint folder)."""
    if bad.any():
        rows = cons.filter(bad)
        ep = Path(rows[FILE][0]).parent.name  # etf_sh_cons or etf_sz_cons
        _fail(ep, rows[FILE][0], field_, problem, rows, int(bad.sum()))


def etf_pcf_table(
    raw: Mapping[str, pl.DataFrame | None], etfs: pl.DataFrame, counts: Counts
) -> pl.DataFrame | None:
    """``etf_pcf`` from ``etf_sh_cons`` + ``etf_sz_cons``: Shanghai/Shenzhen components with
    a positive quantity; Hong Kong, Beijing, cash (``159900.SZ``, quantity 0) and other rows
    are counted and left out, as ``etfflow import pcf`` does."""
    parts = [df for api in ("etf_sh_cons", "etf_sz_cons") if (df := raw.get(api)) is not None]
    if not parts:
        return None
    cons = pl.concat(parts, how="diagonal_relaxed")
    if "exchange" not in cons.columns:
        cons = cons.with_columns(pl.lit(None, pl.String).alias("exchange"))
    code = pl.col("con_code").cast(pl.String)
    market = (
        pl.when(code.str.contains(r"^\d{6}\.(SH|SZ|BJ)$"))
        .then(code.str.slice(-2))
        .when(code.str.contains(r"^\d{4,5}\.HK$"))
        .then(pl.lit("HK"))
        .when(pl.col("exchange") == "OTH")
        .then(pl.lit("OTHER"))
    )
    cons = cons.with_columns(market.alias("_market"))
    _fail_cons(cons, cons["_market"].is_null(), "con_code", "holds a code that maps to no exchange")
    bare = code.str.split(".").list.first()
    kind = (
        pl.when(pl.col("_market").is_in(["SH", "SZ"]))
        .then(
            pl.when(bare.is_in(list(CASH_CODES)) | (pl.col("qty") <= 0))
            .then(pl.lit("cash"))
            .otherwise(pl.lit("a_share"))
        )
        .when(pl.col("_market") == "HK")
        .then(pl.lit("hk"))
        .when(pl.col("_market") == "BJ")
        .then(pl.lit("bj"))
        .otherwise(pl.lit("other"))
    )
    cons = cons.with_columns(
        kind.alias("_kind"),
        pl.col("sub_flag")
        .cast(pl.String)
        .str.strip_chars()
        .replace_strict(SUB_FLAGS, default=None)
        .alias("cash_substitute"),
    )
    _fail_cons(
        cons,
        cons["cash_substitute"].is_null(),
        "sub_flag",
        f"is not a known substitution flag ({', '.join(SUB_FLAGS)})",
    )
    for k, n in cons.group_by("_kind").len().iter_rows():
        if k != "a_share":
            _count(counts, f"etf cons: {k} component rows left out", n)
    a = cons.filter(pl.col("_kind") == "a_share")
    known = a["ts_code"].is_in(etfs["etf_code"].implode())
    _count(counts, "etf cons: rows of ETFs not in etfs (left out)", int((~known).sum()))
    return (
        a.filter(known)
        .select(
            pl.col("trade_date").alias("date"),
            pl.col("ts_code").alias("etf_code"),
            pl.col("con_code").alias("code"),
            pl.col("qty").alias("quantity"),
            "cash_substitute",
        )
        .sort("date", "etf_code", "code")
    )


def index_weights(iw: pl.DataFrame, counts: Counts) -> pl.DataFrame:
    """Per-index weight snapshots from ``index_weight``: % -> fraction, Beijing constituents
    left out (counted); ``date`` = ``trade_date``."""
    _check_codes(iw, "index_weight", "con_code")
    sums = iw.group_by("index_code", "trade_date").agg(pl.col("weight").sum().alias("s"))
    check_unit(
        sums.with_columns(pl.lit(raw_files_hint({"i": iw}, "i")).alias(FILE)),
        "index_weight",
        "weight",
        pl.col("s") / 100.0,
        "% (a snapshot sums to 100)",
        "the sum of a snapshot's weights / 100",
    )
    bj = iw["con_code"].str.ends_with(".BJ")
    _count(counts, "index_weight: Beijing constituents left out", int(bj.sum()))
    return iw.filter(~bj).select(
        pl.col("trade_date").alias("date"),
        pl.lit(None, pl.String).alias("etf_code"),
        "index_code",
        pl.col("con_code").alias("code"),
        (pl.col("weight") * PCT).alias("weight"),
    )


def etf_weights(port: pl.DataFrame, etfs: pl.DataFrame, counts: Counts) -> pl.DataFrame:
    """Per-ETF weight snapshots from the ETFs' own ``fund_portfolio`` rows, point in time:
    one snapshot per announcement (``date`` = ``ann_date``) holding every row of the same
    report period announced by then (a semi-annual full list adds to the top ten), weights =
    ``mkv`` / the snapshot's total."""
    p = port.filter(pl.col("ts_code").is_in(etfs["etf_code"].implode()))
    a_share = p["symbol"].cast(pl.String).str.contains(r"^\d{6}\.(SH|SZ)$").fill_null(False)
    _count(
        counts,
        "fund_portfolio: ETF holdings outside Shanghai/Shenzhen left out",
        int((~a_share).sum()),
    )
    p = p.filter(a_share)
    anns = p.select("ts_code", "end_date", pl.col("ann_date").alias("date")).unique()
    snaps = (
        anns.join(p, on=["ts_code", "end_date"])
        .filter(pl.col("ann_date") <= pl.col("date"))
        .unique(["ts_code", "date", "symbol"], keep="first", maintain_order=True)
    )
    total = pl.col("mkv").sum().over("ts_code", "date")
    return snaps.join(
        etfs.select(pl.col("etf_code").alias("ts_code"), "index_code"), on="ts_code"
    ).select(
        "date",
        pl.col("ts_code").alias("etf_code"),
        "index_code",
        pl.col("symbol").alias("code"),
        (pl.col("mkv") / total).alias("weight"),
    )


def basket_weights(pcf: pl.DataFrame, daily: pl.DataFrame, days: pl.Series) -> pl.DataFrame:
    """Per-ETF weight snapshots from the daily baskets: on the last trading day of each month,
    each component's ``quantity × close`` over the basket's total (what the ETF holds, valued
    that day; the close of day t is known at the end of t, when the snapshot starts)."""
    d = days.alias("day").to_frame()
    month_ends = (
        d.with_columns(pl.col("day").dt.truncate("1mo").alias("month"))
        .group_by("month")
        .agg(pl.col("day").max())["day"]
    )
    value = pl.col("quantity") * pl.col("close")
    return (
        pcf.filter(pl.col("date").is_in(month_ends.implode()))
        .join(daily.select("date", "code", "close"), on=["date", "code"])
        .filter(value > 0)
        .select(
            "date",
            "etf_code",
            "code",
            (value / value.sum().over("date", "etf_code")).alias("weight"),
        )
    )


def holding_weights_table(
    raw: Mapping[str, pl.DataFrame | None],
    tables: Mapping[str, pl.DataFrame],
    days: pl.Series,
    counts: Counts,
) -> pl.DataFrame | None:
    """``holding_weights``: per-ETF snapshots from the daily baskets (:func:`basket_weights`)
    or, for ETFs without baskets, from their own ``fund_portfolio`` disclosures
    (:func:`etf_weights`); per-index snapshots from ``index_weight`` (:func:`index_weights`).
    Each snapshot is renormalised to sum to 1 (Tushare rounds index weights to 4 decimals of
    a percent; the largest deviation is counted, in ppm)."""
    etfs = tables["etfs"]
    parts = []
    pcf = tables.get("etf_pcf")
    with_baskets = pl.Series("etf_code", [], dtype=pl.String)
    if pcf is not None and pcf.height:
        b = basket_weights(pcf, tables["stock_daily"], days)
        parts.append(b.join(etfs.select("etf_code", "index_code"), on="etf_code"))
        with_baskets = pcf["etf_code"].unique()
    if (port := raw.get("fund_portfolio")) is not None and port.height:
        others = etfs.filter(~pl.col("etf_code").is_in(with_baskets.implode()))
        parts.append(etf_weights(port, others, counts))
    if (iw := raw.get("index_weight")) is not None and iw.height:
        parts.append(index_weights(iw, counts))
    if not parts:
        return None
    cols = ["date", "etf_code", "index_code", "code", "weight"]
    w = pl.concat([x.select(cols).cast({"etf_code": pl.String}) for x in parts])
    total = pl.col("weight").sum().over("date", "etf_code", "index_code")
    dev = w.select((total - 1.0).abs().max()).item()
    if dev is not None:
        counts["holding_weights: largest |snapshot sum − 1| before renormalising (ppm)"] = round(
            float(dev) * 1e6
        )
    return w.with_columns(pl.col("weight") / total).sort("date", "etf_code", "index_code", "code")


# creation units from outside the raw folder ------------------------------------------------
#: The columns of a ``--creation-units`` file (``start_date`` optional).
UNIT_FILE_COLUMNS: Final = ("ts_code", "creation_unit", "start_date")
_UNIT_TABLE: Final = "creation_units"


def _unit_error(path: Path, column: str | None, problem: str, rows: pl.DataFrame) -> None:
    raise SourceFileError(
        f"--creation-units: {problem}",
        file=path,
        table=_UNIT_TABLE,
        column=column,
        rule="unparsable_value" if column else "unreadable_file",
        examples=rows.head(5),
        n_rows=rows.height,
        hint="a CSV with the header ts_code,creation_unit[,start_date]: e.g. "
        "510300.SH,900000,20120528 (creation_unit in fund shares > 0; start_date YYYYMMDD or "
        "YYYY-MM-DD, the first day the unit applies; docs/tushare.md)",
    )


def read_creation_units(path: str | Path) -> pl.DataFrame:
    """A ``--creation-units`` CSV (``ts_code,creation_unit[,start_date]``) as
    :data:`UNIT_SCHEMA` rows (``date`` = ``start_date``, null when not given).

    Raises
    ------
    SourceFileError
        An unreadable file, a missing or unknown column, a code without its ``.SH``/``.SZ``
        suffix, a unit that is not a number > 0, a date that does not parse, two rows for the
        same ETF and start date (naming the file, the column and example rows).
    """
    path = Path(path)
    try:
        df = pl.read_csv(path, infer_schema=False, row_index_name="line", row_index_offset=2)
    except Exception as exc:  # any CSV reader error: the file is unusable
        raise SourceFileError(
            f"--creation-units: unreadable CSV ({exc})".splitlines()[0],
            file=path,
            table=_UNIT_TABLE,
            rule="unreadable_file",
        ) from None
    cols = [c.strip() for c in df.columns]
    df.columns = cols
    missing = [c for c in UNIT_FILE_COLUMNS[:2] if c not in cols]
    unknown = [c for c in cols if c not in (*UNIT_FILE_COLUMNS, "line")]
    if missing or unknown:
        what = f"column {missing[0]!r} is missing" if missing else f"unknown column {unknown[0]!r}"
        raise SourceFileError(
            f"--creation-units: {what} (the file has {', '.join(c for c in cols if c != 'line')})",
            file=path,
            table=_UNIT_TABLE,
            column=(missing or unknown)[0],
            rule="missing_column" if missing else "unknown_column",
            examples=df.head(1),
            hint="the header is ts_code,creation_unit[,start_date]",
        )
    if "start_date" not in cols:
        df = df.with_columns(pl.lit(None, pl.String).alias("start_date"))
    df = df.with_columns(pl.col(c).str.strip_chars() for c in UNIT_FILE_COLUMNS)
    bad = ~df["ts_code"].str.contains(r"^\d{6}\.(SH|SZ)$").fill_null(False)
    if bad.any():
        _unit_error(path, "ts_code", "not an ETF code with its suffix (510300.SH)", df.filter(bad))
    unit = df["creation_unit"].cast(pl.Float64, strict=False)
    bad = unit.is_null() | ~unit.is_finite().fill_null(False) | (unit.fill_null(0) <= 0)
    if bad.any():
        _unit_error(path, "creation_unit", "not a number of fund shares > 0", df.filter(bad))
    text = df["start_date"].str.replace_all("-", "")
    date = text.str.strptime(pl.Date, "%Y%m%d", strict=False)
    bad = date.is_null() & text.is_not_null() & (text != "")
    if bad.any():
        _unit_error(path, "start_date", "not a date YYYYMMDD / YYYY-MM-DD", df.filter(bad))
    out = pl.DataFrame(
        {"etf_code": df["ts_code"], "date": date, "creation_unit": unit, "line": df["line"]}
    )
    dup = out.select("etf_code", "date").is_duplicated()
    if dup.any():
        _unit_error(
            path,
            "ts_code",
            "two rows for the same ETF and start_date",
            df.filter(dup),
        )
    return out.drop("line").with_columns(pl.lit("--creation-units").alias("source"))


def dataset_creation_units(out: Path) -> pl.DataFrame | None:
    """The known (non-null) creation units of ``etfs`` in the dataset folder ``out``
    (``etf_code``, ``creation_unit``), None when it has no ``etfs``: a re-import whose sources
    have no unit for an ETF keeps the one an earlier import found."""
    path = table_path(out, "etfs") if out.is_dir() else None
    if path is None:
        return None
    lf = scan_table(path)
    if not {"etf_code", "creation_unit"} <= set(lf.collect_schema().names()):
        return None  # the validation of the merged dataset names what is missing
    return (
        lf.select(pl.col("etf_code").cast(pl.String), pl.col("creation_unit").cast(pl.Float64))
        .filter(pl.col("creation_unit").is_not_null() & (pl.col("creation_unit") > 0))
        .collect()
    )


def dataset_pcf_header(out: Path) -> pl.DataFrame | None:
    """The creation units of ``pcf_header`` in the dataset folder ``out`` (written by
    ``etfflow import pcf``: one file or a year-partitioned folder), None when absent."""
    path = table_path(out, HEADER_TABLE) if out.is_dir() else None
    if path is None:
        return None
    lf = scan_table(path)
    names = lf.collect_schema().names()
    missing = [c for c in ("date", "etf_code", "creation_unit") if c not in names]
    if missing:
        raise SourceFileError(
            f"the dataset's {HEADER_TABLE} has no column {missing[0]!r}",
            file=path,
            table=HEADER_TABLE,
            column=missing[0],
            rule="missing_column",
            hint="re-import the PCF files with `etfflow import pcf`",
        )
    return lf.select(
        pl.col("etf_code").cast(pl.String),
        pl.col("date").cast(pl.Date),
        pl.col("creation_unit").cast(pl.Float64),
    ).collect()
