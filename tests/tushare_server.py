"""A loopback server speaking Tushare Pro's wire protocol, for tests (never the network).

``TushareServer(tables)`` serves ``dict[api_name, pl.DataFrame]`` (Tushare's field names and
units, dates as ``YYYYMMDD`` strings) on ``127.0.0.1`` from a
``http.server.ThreadingHTTPServer`` in a daemon thread. A request
``{"api_name", "token", "params", "fields"}`` is answered like Tushare:

- a wrong token: ``code`` 40101, "您的token不对，请确认。"; an unknown ``api_name``: 40101
  with "请指定正确的接口名";
- rows filtered by equality on every parameter that is a column (``ts_code``, ``trade_date``,
  ``index_code``, ``is_new``, ...; :data:`ALIASES` maps a parameter onto another column, e.g.
  ``fund_portfolio``'s ``period`` onto ``end_date``) and by ``start_date``/``end_date`` on the
  endpoint's date column (:data:`DATE_COLUMNS`, default ``trade_date``); a parameter that is
  no column of the table is an error (code 40102; a test table must carry the columns its
  requests filter on, e.g. ``list_status``, ``is_new``, ``market``, ``exchange``);
- only the requested ``fields`` that the table has, in the order asked (all when empty);
- one page: ``limit``/``offset``, at most ``caps[api_name]`` rows (default ``default_cap``),
  ``has_more`` true while rows remain.

:class:`Faults` injects errors: rate-limit answers (code 40203, "抱歉，您每分钟最多访问该接口
2次") a number of times per endpoint, HTTP 503s, a field dropped from answers, an answer with an
unexpected schema, answers without ``has_more``, and a non-retryable error after N calls
(a fetch dying half-way). ``calls`` records every request (api_name, params) and ``tokens``
the tokens seen, so tests can count requests.

Usage (a context manager; ``url`` is ``http://127.0.0.1:PORT``)::

    with TushareServer({"daily": df}, token="t") as server:
        fetch_tushare(raw, start=..., end=..., token="t", api_url=server.url)
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import polars as pl

RATE_LIMIT_MSG = "抱歉，您每分钟最多访问该接口2次，权限的具体详情访问：https://tushare.pro/document/1?doc_id=108。"
BAD_TOKEN_MSG = "您的token不对，请确认。"
NOT_JSON = "__not_json__"

#: Date column filtered by ``start_date``/``end_date``, when it is not ``trade_date``.
DATE_COLUMNS: dict[str, str] = {"trade_cal": "cal_date", "fund_nav": "nav_date"}
#: Parameters matched against another column.
ALIASES: dict[str, dict[str, str]] = {"fund_portfolio": {"period": "end_date"}}


@dataclass
class Faults:
    """Errors to inject; every counter is consumed as answers are sent."""

    rate_limit: dict[str, int] = field(default_factory=dict)
    http_503: dict[str, int] = field(default_factory=dict)
    drop_field: dict[str, str] = field(default_factory=dict)
    #: ``api_name`` -> ``"no_items"`` (data without "items"), ``"short_item"`` (an item
    #: shorter than the fields), ``"text_in_float"`` (a number field sent as text "n/a") or
    #: ``"not_json"`` (an HTML page instead of JSON); ``"null_data"`` answers ``data`` null
    #: (an empty result).
    bad_schema: dict[str, str] = field(default_factory=dict)
    no_has_more: bool = False
    #: Every page answered from offset 0 (a server that ignores ``offset``).
    ignore_offset: bool = False
    #: After this many calls every answer is a non-retryable error (code 50101).
    fail_after: int | None = None


class TushareServer:
    """The loopback Tushare server (see the module docstring)."""

    def __init__(
        self,
        tables: dict[str, pl.DataFrame],
        *,
        token: str = "test-token",
        caps: dict[str, int] | None = None,
        default_cap: int = 5000,
        faults: Faults | None = None,
    ) -> None:
        self.tables = tables
        self.token = token
        self.caps = caps or {}
        self.default_cap = default_cap
        self.faults = faults or Faults()
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.tokens: set[str] = set()
        self._lock = threading.Lock()
        self._index: dict[tuple[str, str, int], dict[str, pl.DataFrame]] = {}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --------------------------------------------------------------- lifecycle
    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> TushareServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = server.answer(body)
                if NOT_JSON in answer:
                    payload = str(answer[NOT_JSON]).encode("utf-8")
                else:
                    payload = json.dumps(answer, ensure_ascii=False).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> TushareServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def count(self, api_name: str) -> int:
        """Requests received for ``api_name`` (every page and retry)."""
        return sum(1 for a, _ in self.calls if a == api_name)

    # --------------------------------------------------------------- protocol
    def answer(self, body: bytes) -> tuple[int, dict[str, Any]]:
        req = json.loads(body.decode("utf-8"))
        api, params = req.get("api_name", ""), dict(req.get("params") or {})
        with self._lock:
            self.calls.append((api, params))
            self.tokens.add(str(req.get("token")))
            n = len(self.calls)
            f = self.faults
            if f.fail_after is not None and n > f.fail_after:
                return 200, _error(50101, "服务器内部错误，请稍后再试")
            if f.http_503.get(api, 0) > 0:
                f.http_503[api] -= 1
                return 503, {}
            if f.rate_limit.get(api, 0) > 0:
                f.rate_limit[api] -= 1
                return 200, _error(40203, RATE_LIMIT_MSG)
        if req.get("token") != self.token:
            return 200, _error(40101, BAD_TOKEN_MSG)
        if api not in self.tables:
            return 200, _error(40101, f"请指定正确的接口名: {api}")
        try:
            df = self._select(api, params)
        except _Unfiltered as exc:
            # Tushare would filter on it; a test table without the column would silently
            # answer every row to every request (duplicates in the raw folder)
            return 200, _error(
                40102, f"test table {api!r} has no column {exc.args[0]!r} to filter on"
            )
        asked = [s for s in str(req.get("fields") or "").split(",") if s]
        cols = [c for c in (asked or df.columns) if c in df.columns]
        if api in self.faults.drop_field:
            cols = [c for c in cols if c != self.faults.drop_field[api]]
        offset = 0 if self.faults.ignore_offset else int(params.get("offset") or 0)
        cap = min(int(params.get("limit") or 10**9), self.caps.get(api, self.default_cap))
        page = df.select(cols).slice(offset, cap)
        items = [[_plain(v) for v in row] for row in page.rows()]
        data: dict[str, Any] = {"fields": cols, "items": items}
        if not self.faults.no_has_more:
            data["has_more"] = offset + cap < df.height
        bad = self.faults.bad_schema.get(api)
        if bad == "not_json":
            return 200, {NOT_JSON: "<html><body>502 Bad Gateway</body></html>"}
        if bad == "null_data":  # an empty result sent as data null
            return 200, {"request_id": "", "code": 0, "msg": "", "data": None}
        if bad == "no_items":
            data = {"fields": cols, "rows": items}
        elif bad == "short_item" and items:
            items[0] = items[0][:-1]
        elif bad == "text_in_float" and items:
            j = next(i for i, c in enumerate(cols) if page.schema[c].is_float())
            items[0][j] = "n/a"
        return 200, {"request_id": str(len(self.calls)), "code": 0, "msg": "", "data": data}

    def _groups(self, api: str, col: str) -> dict[str, pl.DataFrame]:
        """``tables[api]`` split by the values of ``col`` (built once: a per-day fetch asks
        every day of a large table)."""
        key = (api, col, id(self.tables[api]))
        with self._lock:
            if key not in self._index:
                df = self.tables[api]
                parts = df.with_columns(pl.col(col).cast(pl.String).alias("__k")).partition_by(
                    "__k", as_dict=True, include_key=False, maintain_order=True
                )
                self._index[key] = {str(k[0]): v for k, v in parts.items()}
            return self._index[key]

    def _select(self, api: str, params: dict[str, Any]) -> pl.DataFrame:
        df = self.tables[api]
        date_col = DATE_COLUMNS.get(api, "trade_date")
        aliases = ALIASES.get(api, {})
        first = next(  # the first equality filter uses the cached split
            (k for k, v in params.items() if v not in (None, "") and aliases.get(k, k) in df.columns
             and k not in ("limit", "offset", "start_date", "end_date")),
            None,
        )  # fmt: skip
        if first is not None:
            empty = df.clear()
            df = self._groups(api, aliases.get(first, first)).get(str(params[first]), empty)
        for k, v in params.items():
            if k == first:
                continue
            if k in ("limit", "offset") or v in (None, ""):
                continue
            if k in ("start_date", "end_date") and k not in aliases:
                if date_col in df.columns:
                    op = (
                        pl.col(date_col) >= str(v)
                        if k == "start_date"
                        else pl.col(date_col) <= str(v)
                    )
                    df = df.filter(op)
                continue
            col = aliases.get(k, k)
            if col not in df.columns:
                raise _Unfiltered(k)
            df = df.filter(pl.col(col).cast(pl.String) == str(v))
        return df


class _Unfiltered(Exception):
    """A parameter that names no column of the served table."""


def _error(code: int, msg: str) -> dict[str, Any]:
    return {"request_id": "", "code": code, "msg": msg, "data": None}


def _plain(v: Any) -> Any:
    """A JSON value: NaN and infinities as null (Tushare sends null for a missing number)."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v
