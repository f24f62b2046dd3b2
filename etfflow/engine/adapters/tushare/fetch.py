"""``fetch_tushare``: download the endpoint catalogue into a raw folder, resumably.

Every request of :mod:`~etfflow.engine.adapters.tushare.endpoints` (split by year, trading day,
code and month, ...) becomes one file ``RAW_DIR/<api_name>/<partition>.parquet``
(:mod:`~etfflow.engine.adapters.tushare.raw`), written whole (every page) to a temporary file
and renamed, so a file exists only for a complete request. That is what makes fetching
resumable and incremental:

- a request whose file exists is skipped: re-running after a failure or a kill fetches only
  what is missing, and a wider date range fetches only the new days, months and periods;
- a request that cannot be final yet (a reference list, a month or report period not over by
  ``end``) is named ``...,through=END``; it is fetched again only for a later ``end``, and the
  file it supersedes is deleted (so the folder holds one snapshot per request);
- ``RAW_DIR/_fetch.json`` (the manifest, written atomically after each endpoint) records the
  range, the endpoints, the counts and timestamps of each run; never the token.

``trade_cal`` is fetched first: the per-day requests are the open days of its calendar, up
to the day before today (China time): Tushare fills a day's tables during its evening, and an
answer stored before would count as complete; ``end`` may not be in the future.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from etfflow._common import Progress, atomic_path
from etfflow.engine.adapters.tushare.client import DEFAULT_API_URL, TushareClient
from etfflow.engine.adapters.tushare.endpoints import (
    PORTFOLIO_FINAL_DAYS,
    TRACKED,
    Endpoint,
    index_codes,
    select,
)
from etfflow.engine.adapters.tushare.raw import partition_name, raw_file, raw_files, read_raw
from etfflow.exceptions import EtfflowError

logger = logging.getLogger(__name__)

MANIFEST = "_fetch.json"
#: Tushare's dates are China's (UTC+8).
CHINA = dt.timezone(dt.timedelta(hours=8))
THROUGH = "through"


@dataclass(frozen=True)
class Request:
    """One request: ``params`` sent to Tushare, ``partition`` naming its file; ``final``
    False when the request is a snapshot through ``end`` (its partition has ``through``)."""

    endpoint: Endpoint
    partition: dict[str, str]
    params: dict[str, str]
    final: bool = True

    @property
    def base(self) -> str:
        """The partition name without ``through``: the same request at another ``end``."""
        return partition_name({k: v for k, v in self.partition.items() if k != THROUGH})


@dataclass
class EndpointSummary:
    api_name: str
    split: str
    requests: int = 0
    skipped: int = 0
    rows: int = 0
    files: int = 0
    superseded: int = 0
    missing_fields: list[str] = field(default_factory=list)


@dataclass
class FetchSummary:
    """What one :func:`fetch_tushare` run did: requests made and skipped, HTTP calls,
    retries, rows per endpoint (this run), files per endpoint (in the folder)."""

    raw_dir: Path
    start: str
    end: str
    endpoints: dict[str, EndpointSummary]
    calls: int = 0
    retries: int = 0
    trading_days: int = 0
    #: Open days not fetched per day because they are today (their tables fill up tonight).
    deferred: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(e.requests for e in self.endpoints.values())

    @property
    def skipped(self) -> int:
        return sum(e.skipped for e in self.endpoints.values())

    @property
    def rows(self) -> dict[str, int]:
        return {k: e.rows for k, e in self.endpoints.items()}

    def table(self) -> pl.DataFrame:
        """One row per endpoint: split, requests made, skipped, rows fetched, files."""
        return pl.DataFrame(
            [
                {
                    "endpoint": e.api_name,
                    "split": e.split,
                    "requests": e.requests,
                    "skipped": e.skipped,
                    "rows": e.rows,
                    "files": e.files,
                    "missing fields": ", ".join(e.missing_fields),
                }
                for e in self.endpoints.values()
            ]
        )


def parse_day(text: str, what: str) -> dt.date:
    """``20240102`` -> a date; anything else is an :class:`EtfflowError` naming ``what``."""
    try:
        if len(text) != 8 or not text.isdigit():
            raise ValueError
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise EtfflowError(f"{what} {text!r} is not a date in the form YYYYMMDD") from None


def _ymd(d: dt.date) -> str:
    return d.strftime("%Y%m%d")


def _parse_partition(stem: str) -> dict[str, str]:
    if stem == "all":
        return {}
    return dict(part.partition("=")[::2] for part in stem.split(","))


# ---------------------------------------------------------------- the requests of a split


def _months(start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    out = []
    y, m = start.year, start.month
    while (y, m) <= (end.year, end.month):
        out.append((dt.date(y, m, 1), dt.date(y, m, calendar.monthrange(y, m)[1])))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _quarter_ends(start: dt.date, end: dt.date) -> list[dt.date]:
    out = []
    for y in range(start.year, end.year + 1):
        for m, d in ((3, 31), (6, 30), (9, 30), (12, 31)):
            q = dt.date(y, m, d)
            if start <= q <= end:
                out.append(q)
    return out


def _periodic(
    ep: Endpoint,
    codes: Sequence[str],
    periods: list[tuple[dt.date, dt.date]],
    key: str,
    end: dt.date,
) -> list[Request]:
    """Per (code, period) requests; a period ending after ``end`` is asked up to ``end``."""
    out = []
    for code in codes:
        for first, last in periods:
            final = last <= end
            label = first.strftime("%Y%m" if key == "month" else "%Y")
            part = {ep.code_param: code, key: label}
            if not final:
                part[THROUGH] = _ymd(end)
            params = {
                ep.code_param: code,
                "start_date": _ymd(first),
                "end_date": _ymd(min(last, end)),
            }
            out.append(Request(ep, part, params, final))
    return out


def requests_for(
    ep: Endpoint,
    start: dt.date,
    end: dt.date,
    *,
    days: Sequence[str] = (),
    codes: Sequence[str] = (),
    today: dt.date | None = None,
) -> list[Request]:
    """Every request of ``ep`` for the range (``days``: the open days; ``codes``: the codes
    of a per-code split; ``today``: the fetch day, after which a report period's
    disclosures are complete, default ``end``)."""
    if ep.split == "once":
        return [Request(ep, {**p, THROUGH: _ymd(end)}, dict(p), final=False) for p in ep.params]
    if ep.split == "year":
        return [
            Request(
                ep, {**p, "year": str(y)}, {**p, "start_date": f"{y}0101", "end_date": f"{y}1231"}
            )
            for y in range(start.year, end.year + 1)
            for p in ep.params
        ]
    if ep.split == "trade_date":
        return [Request(ep, {ep.date_param: d}, {ep.date_param: d}) for d in days]
    if ep.split == "month":
        return _periodic(ep, codes, _months(start, end), "month", end)
    if ep.split == "year_code":
        years = [(dt.date(y, 1, 1), dt.date(y, 12, 31)) for y in range(start.year, end.year + 1)]
        return _periodic(ep, codes, years, "year", end)
    if ep.split == "quarter":
        out = []
        for q in _quarter_ends(start - dt.timedelta(days=183), end):
            final = (today or end) >= q + dt.timedelta(days=PORTFOLIO_FINAL_DAYS)
            part = {"period": _ymd(q)} | ({} if final else {THROUGH: _ymd(end)})
            out.append(Request(ep, part, {"period": _ymd(q)}, final))
        return out
    raise AssertionError(ep.split)  # pragma: no cover


# ---------------------------------------------------------------- the raw folder


class _Existing:
    """The request files of one endpoint on disk, by base partition."""

    def __init__(self, raw_dir: Path, api_name: str) -> None:
        self.by_base: dict[str, list[tuple[str | None, Path]]] = {}
        folder = raw_dir / api_name
        if folder.is_dir():  # leftovers of a killed run: temporary files never renamed
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)
        for path in raw_files(raw_dir, api_name):
            part = _parse_partition(path.stem)
            through = part.pop(THROUGH, None)
            self.by_base.setdefault(partition_name(part), []).append((through, path))

    def covers(self, req: Request) -> bool:
        """A file as complete as ``req`` exists (final, or a snapshot through the same or a
        later day)."""
        have = self.by_base.get(req.base, [])
        if any(t is None for t, _ in have):
            return True
        if req.final:
            return False
        return any(t is not None and t >= req.partition[THROUGH] for t, _ in have)

    def tidy(self, base: str) -> int:
        """Delete the files of ``base`` superseded by a better one (final, or the latest
        snapshot); the number deleted."""
        have = self.by_base.get(base, [])
        if len(have) < 2:
            return 0
        best = max(have, key=lambda tp: (tp[0] is None, tp[0] or ""))
        for _, path in have:
            if path != best[1]:
                path.unlink(missing_ok=True)
        self.by_base[base] = [best]
        return len(have) - 1

    def add(self, req: Request, path: Path) -> int:
        self.by_base.setdefault(req.base, []).append((req.partition.get(THROUGH), path))
        return self.tidy(req.base)


def _write_manifest(raw_dir: Path, record: dict[str, Any]) -> None:
    path = raw_dir / MANIFEST
    runs: list[Any] = []
    if path.is_file():
        try:
            runs = list(json.loads(path.read_text(encoding="utf-8")).get("runs", []))
        except (json.JSONDecodeError, AttributeError):
            runs = []
    runs = [r for r in runs if r.get("run_id") != record["run_id"]] + [record]
    out = {**record, "runs": runs}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")


def _open_days(raw_dir: Path, start: str, end: str) -> list[str]:
    cal = read_raw(raw_dir, "trade_cal")
    return (
        cal.filter(
            (pl.col("is_open").cast(pl.Int64) == 1)
            & pl.col("cal_date").cast(pl.String).is_between(pl.lit(start), pl.lit(end))
        )
        .get_column("cal_date")
        .unique()
        .sort()
        .to_list()
    )


def _tracked(raw_dir: Path) -> list[str]:
    """The indices tracked by the ETFs of ``etf_basic`` in the raw folder."""
    etfs = read_raw(raw_dir, "etf_basic")
    return etfs.get_column("index_code").drop_nulls().unique().sort().to_list()


def _codes(ep: Endpoint, raw_dir: Path, indices: Sequence[str]) -> list[str]:
    if ep.codes == "indices":
        codes = index_codes(indices)
        if TRACKED in indices:
            codes += [c for c in _tracked(raw_dir) if c not in codes]
        return codes
    if ep.codes == "etf_index":
        return _tracked(raw_dir)
    return []


def fetch_tushare(
    raw_dir: str | Path,
    *,
    start: str,
    end: str,
    token: str,
    api_url: str = DEFAULT_API_URL,
    progress: Progress | None = None,
    endpoints: Sequence[str] | None = None,
    max_retries: int = 8,
    backoff: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    today: dt.date | None = None,
    indices: Sequence[str] = (),
) -> FetchSummary:
    """Download the Tushare endpoints for ``start``..``end`` into ``raw_dir``.

    Parameters
    ----------
    raw_dir
        The raw folder (created when missing; see
        :mod:`~etfflow.engine.adapters.tushare.raw`).
    start, end
        The date range, ``YYYYMMDD``, inclusive.
    token
        The Tushare token; used in request bodies only.
    api_url
        Tushare's HTTP endpoint (a loopback server in tests).
    progress
        ``progress(api_name, done, total)`` after each request (made or skipped).
    endpoints
        The endpoint names to fetch (default the whole catalogue); ``trade_cal`` is always
        fetched.
    max_retries, backoff, sleep
        The retry policy on rate limits and transient errors
        (:class:`~etfflow.engine.adapters.tushare.client.TushareClient`).
    today
        The current day in China (default: now, UTC+8). ``end`` may not be later; the
        per-day requests stop the day before: Tushare fills a day's tables during its
        evening, and a per-day file is final once written.
    indices
        Index codes whose ``index_daily`` is fetched besides the style and benchmark indices
        (:func:`~etfflow.engine.adapters.tushare.endpoints.index_codes`); the word
        ``tracked`` adds every index tracked by an ETF of ``etf_basic`` (fetched first).

    Returns
    -------
    FetchSummary
        Requests made and skipped, HTTP calls, retries, rows per endpoint.

    Raises
    ------
    EtfflowError
        Bad dates, an unknown endpoint, a request Tushare refuses or answers with an
        unexpected schema (the files already written stay: re-running resumes).
    """
    s, e = parse_day(start, "--start"), parse_day(end, "--end")
    if s > e:
        raise EtfflowError(f"--start {start} is after --end {end}")
    today = today or dt.datetime.now(CHINA).date()
    if e > today:
        raise EtfflowError(
            f"--end {end} is in the future (today is {_ymd(today)} in China): a request "
            "answered before its data exists would be stored as complete"
        )
    indices = [c.strip() for c in indices if c.strip()]
    index_codes(indices)  # a malformed code stops the fetch before any request
    names = list(endpoints) if endpoints else None
    if names and TRACKED in indices and "index_daily" in names:
        names.append("etf_basic")  # its tracked indices
    eps = select(names)
    client = TushareClient(token, api_url, max_retries=max_retries, backoff=backoff, sleep=sleep)
    raw = Path(raw_dir)
    raw.mkdir(parents=True, exist_ok=True)
    summary = FetchSummary(
        raw, start, end, {ep.api_name: EndpointSummary(ep.api_name, ep.split) for ep in eps}
    )
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    run_id = uuid.uuid4().hex[:12]
    safe_url = client.scrub(api_url)  # a token pasted into the URL stays out

    def record(complete: bool) -> dict[str, Any]:
        return {
            "source": "tushare",
            "run_id": run_id,
            "api_url": safe_url,
            "start": start,
            "end": end,
            "endpoints": [ep.api_name for ep in eps],
            "indices": indices,
            "started_at": started,
            "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            if complete
            else None,
            "complete": complete,
            "calls": client.stats.calls,
            "retries": client.stats.retries,
            "deferred_days": summary.deferred,
            "counts": {
                k: {
                    "requests": v.requests,
                    "skipped": v.skipped,
                    "rows": v.rows,
                    "files": v.files,
                    "missing_fields": v.missing_fields,
                }
                for k, v in summary.endpoints.items()
            },
        }

    days: list[str] | None = None  # the open days, read once trade_cal is in the folder
    for ep in eps:
        if ep.split == "trade_date" and days is None:
            days = _open_days(raw, start, end)
            summary.deferred = [d for d in days if d >= _ymd(today)]
            days = [d for d in days if d < _ymd(today)]
            summary.trading_days = len(days)
        codes = _codes(ep, raw, indices) if ep.codes else ()
        reqs = requests_for(ep, s, e, days=days or (), codes=codes, today=today)
        _fetch_endpoint(client, raw, ep, reqs, summary.endpoints[ep.api_name], progress)
        summary.calls, summary.retries = client.stats.calls, client.stats.retries
        _write_manifest(raw, record(complete=False))
    _write_manifest(raw, record(complete=True))
    return summary


def _fetch_endpoint(
    client: TushareClient,
    raw: Path,
    ep: Endpoint,
    reqs: list[Request],
    out: EndpointSummary,
    progress: Progress | None,
) -> None:
    existing = _Existing(raw, ep.api_name)
    for base in list(existing.by_base):
        out.superseded += existing.tidy(base)
    missing: set[str] = set()
    for i, req in enumerate(reqs, 1):
        if existing.covers(req):
            out.skipped += 1
        else:
            df = client.query(
                ep.api_name,
                req.params,
                list(ep.fields),
                required=ep.required,
                dtypes=ep.fields,
                page_size=ep.cap,
            )
            missing |= set(ep.fields) - set(df.columns)
            path = raw_file(raw, ep.api_name, req.partition)
            with atomic_path(path) as tmp:
                df.write_parquet(tmp)
            out.superseded += existing.add(req, path)
            out.requests += 1
            out.rows += df.height
        if progress is not None:
            progress(ep.api_name, i, len(reqs))
    if not reqs and progress is not None:
        progress(ep.api_name, 0, 0)
    out.missing_fields = sorted(missing)
    if missing:
        logger.warning("tushare %s: answers lack the optional fields %s", ep.api_name, missing)
    out.files = len(raw_files(raw, ep.api_name))
