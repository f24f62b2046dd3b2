"""Tushare Pro's wire protocol: one JSON POST per page, every page of a request, retries.

Plain HTTP (``urllib.request`` + ``json``), not the ``tushare`` client package, because:

- the package pulls pandas (and its own dependencies) into an environment built on Polars, only
  to turn each answer into a pandas frame that would be converted again;
- its ``pro_api().query`` fetches one page and has its own fixed retry loop; here paging
  (``limit``/``offset`` until ``has_more`` is false), the retry policy (exponential backoff on
  the rate-limit error, bounded) and the sleep function are ours, so they are tested;
- the whole protocol is testable against a loopback server (``tests/tushare_server.py``) with
  injected faults and no real sleeping.

The protocol (https://tushare.pro/document/1?doc_id=40, "使用http协议直接获取"): POST
``{"api_name", "token", "params", "fields"}`` (``fields`` comma-separated) to
``http://api.tushare.pro``; the answer is ``{"code", "msg", "data": {"fields": [...],
"items": [[...], ...], "has_more": bool}}``, ``code`` 0 on success. A rate-limited request
answers a non-zero code with "抱歉，您每分钟最多访问该接口N次" (seen verbatim in
https://github.com/waditu/tushare/issues/1229); code 40203 is treated as the rate limit too.

The token is sent in the request body only: it never appears in an exception, a log line or a
``repr`` (every message passes through :meth:`TushareClient.scrub`).
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from etfflow.exceptions import EtfflowError, format_examples

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "http://api.tushare.pro"
#: Codes answered when the per-minute quota is used up (retried with backoff).
RATE_LIMIT_CODES: frozenset[int] = frozenset({40203})
#: Part of the rate-limit message ("抱歉，您每分钟最多访问该接口200次"): per minute, so waiting
#: helps; a per-day quota ("每天最多访问") does not recover by waiting and is not retried.
RATE_LIMIT_TEXT = "每分钟最多访问"
#: HTTP statuses worth retrying (server busy, gateway errors, too many requests).
TRANSIENT_HTTP = frozenset({429, 500, 502, 503, 504})
#: Longest single wait between retries (seconds): the quota is per minute.
MAX_BACKOFF = 60.0

#: Declared field types: Tushare's documented 类型 ``str`` / ``float`` / ``int``.
DTYPES: dict[str, pl.DataType] = {"str": pl.String(), "float": pl.Float64(), "int": pl.Int64()}


class TushareError(EtfflowError):
    """Tushare answered an error, or an answer that cannot be read; ``api_name``, ``params``
    (never the token), ``code`` and ``msg`` say which request and what Tushare said."""

    def __init__(
        self,
        message: str,
        *,
        api_name: str,
        params: Mapping[str, Any],
        code: int | None = None,
        msg: str | None = None,
    ) -> None:
        self.api_name = api_name
        self.params = dict(params)
        self.code = code
        self.msg = msg
        where = f"tushare endpoint {api_name!r} (params {self.params})"
        said = f" [code {code}: {msg}]" if code is not None else ""
        super().__init__(f"{where}: {message}{said}")


@dataclass
class ClientStats:
    """Counters of one client: HTTP calls made, retries, rows received."""

    calls: int = 0
    retries: int = 0
    rows: int = 0


class TushareClient:
    """A Tushare Pro connection: :meth:`query` fetches every page of one request.

    Parameters
    ----------
    token
        The Tushare token (sent in each request body, never stored elsewhere or printed).
    api_url
        The endpoint (``http://api.tushare.pro``; a loopback server in tests).
    max_retries
        Retries of one page after a rate-limit answer or a transient HTTP/connection error;
        the error is raised after that many.
    backoff
        First wait in seconds; it doubles on each retry (capped at :data:`MAX_BACKOFF`).
    timeout
        Seconds to wait for one HTTP answer.
    sleep
        The wait function (``time.sleep``; tests pass a recorder).
    """

    def __init__(
        self,
        token: str,
        api_url: str = DEFAULT_API_URL,
        *,
        max_retries: int = 8,
        backoff: float = 1.0,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not token or not token.strip():
            raise EtfflowError(
                "no Tushare token: pass --token T or set it in the environment, e.g. "
                "`export TUSHARE_TOKEN=<your token>` (it is on https://tushare.pro/user/token); "
                "the token is never written to disk"
            )
        if max_retries < 0 or backoff < 0:
            raise EtfflowError("tushare client: max_retries and backoff must be >= 0")
        self.__token = token.strip()
        self.api_url = api_url
        self.max_retries = max_retries
        self.backoff = backoff
        self.timeout = timeout
        self.sleep = sleep
        self.stats = ClientStats()

    def __repr__(self) -> str:
        return f"TushareClient(api_url={self.scrub(self.api_url)!r}, token=***)"

    def scrub(self, text: object) -> str:
        """``text`` with the token replaced by ``***`` (for messages that quote a server)."""
        return str(text).replace(self.__token, "***")

    def _post(self, body: dict[str, Any], api_name: str, params: Mapping[str, Any]) -> Any:
        """One HTTP call: the decoded JSON answer, or a retryable ``_Transient``."""
        data = json.dumps({**body, "token": self.__token}).encode("utf-8")
        req = urllib.request.Request(
            self.api_url, data=data, headers={"Content-Type": "application/json"}, method="POST"
        )
        self.stats.calls += 1
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            if exc.code in TRANSIENT_HTTP:
                return _Transient(f"HTTP {exc.code}")
            raise TushareError(
                f"HTTP error {exc.code} from {self.scrub(self.api_url)}",
                api_name=api_name,
                params=params,
            ) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            return _Transient(f"connection error: {self.scrub(reason)}")
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise TushareError(
                f"the answer is not JSON (first bytes: {self.scrub(raw[:80])})",
                api_name=api_name,
                params=params,
            ) from None

    def _page(
        self, api_name: str, params: Mapping[str, Any], fields: Sequence[str]
    ) -> dict[str, Any]:
        """One page's ``data`` object, retrying rate limits and transient errors."""
        body = {"api_name": api_name, "params": dict(params), "fields": ",".join(fields)}
        for attempt in range(self.max_retries + 1):
            answer = self._post(body, api_name, params)
            if isinstance(answer, _Transient):
                why = answer.reason
            elif not isinstance(answer, dict) or "code" not in answer:
                raise TushareError(
                    f"unexpected answer (no 'code'): {self.scrub(answer)[:200]}",
                    api_name=api_name,
                    params=params,
                )
            elif answer["code"] == 0:
                return _check_data(answer.get("data"), api_name, params)
            else:
                code, msg = answer["code"], self.scrub(answer.get("msg", ""))
                if code not in RATE_LIMIT_CODES and RATE_LIMIT_TEXT not in msg:
                    raise TushareError(
                        "Tushare refused the request (a wrong token, no permission for this "
                        "endpoint, an unknown field or parameter)",
                        api_name=api_name,
                        params=params,
                        code=code,
                        msg=msg,
                    )
                why = f"rate limit [code {code}: {msg}]"
            if attempt == self.max_retries:
                raise TushareError(
                    f"gave up after {self.max_retries} retries: {why}",
                    api_name=api_name,
                    params=params,
                )
            wait = min(self.backoff * 2**attempt, MAX_BACKOFF)
            self.stats.retries += 1
            logger.info("tushare %s: %s; retrying in %.1f s", api_name, why, wait)
            self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def query(
        self,
        api_name: str,
        params: Mapping[str, Any],
        fields: Sequence[str],
        *,
        required: Sequence[str] | None = None,
        dtypes: Mapping[str, str] | None = None,
        page_size: int = 2000,
    ) -> pl.DataFrame:
        """Every row of one request, all pages concatenated, as Tushare returned them.

        Pages are requested with ``limit=page_size`` and ``offset`` (advanced by the rows
        received) until the answer says ``has_more`` false or a page is empty (an answer
        without ``has_more`` costs one more, empty, page: its server's cap may be below
        ``page_size``, so a short page does not prove the end). The frame holds the fields
        Tushare returned, in the order asked, typed by ``dtypes`` (``str``/``float``/``int``
        per field; others inferred).

        Raises
        ------
        TushareError
            On a non-retryable error code (its ``code`` and ``msg`` quoted), a page lacking a
            field of ``required`` (default: every field asked), fields that change between
            pages, an item whose length differs from ``fields``, a value that does not fit
            its declared type, or when the retries are used up.
        """
        if page_size < 1:
            raise EtfflowError(f"tushare {api_name}: page_size must be >= 1")
        need = list(fields if required is None else required)
        dtypes = dtypes or {}
        names: list[str] | None = None
        rows: list[list[Any]] = []
        previous: list[Any] = []
        offset = 0
        while True:
            page_params = {**params, "limit": page_size, "offset": offset}
            data = self._page(api_name, page_params, fields)
            got = [str(f) for f in data["fields"]]
            items = data["items"]
            # an answer without fields nor items (data null) is an empty result, not a schema
            missing = [f for f in need if f not in got] if got or items else []
            if missing:
                example = dict(zip(got, items[0], strict=False)) if items else {}
                raise TushareError(
                    f"the answer lacks required field {missing[0]!r}"
                    + (f" (and {missing[1:]})" if len(missing) > 1 else "")
                    + f"; it has {got}"
                    + (f"\n  example row:\n{format_examples([example])}" if items else ""),
                    api_name=api_name,
                    params=params,
                )
            if not got and not items:
                break
            if names is None:
                names = got
            elif got != names:
                raise TushareError(
                    f"the fields changed between pages: {names} then {got} (offset {offset})",
                    api_name=api_name,
                    params=params,
                )
            for item in items:
                if not isinstance(item, list) or len(item) != len(got):
                    raise TushareError(
                        f"an item has {len(item) if isinstance(item, list) else 'no'} values "
                        f"for {len(got)} fields {got}: {self.scrub(item)[:200]}",
                        api_name=api_name,
                        params=params,
                    )
            if items and items == previous:
                raise TushareError(
                    f"the answer at offset {offset} repeats the previous page: the server "
                    "ignores 'offset', paging cannot go on",
                    api_name=api_name,
                    params=params,
                )
            previous = items
            rows.extend(items)
            offset += len(items)
            has_more = data.get("has_more")
            # has_more false: done; no has_more (an older answer): go on until an empty page,
            # since the server's cap may be below page_size (a short page proves nothing)
            if not items or has_more is False:
                break
        self.stats.rows += len(rows)
        return _frame(names or list(fields), rows, dtypes, api_name, params)


@dataclass(frozen=True)
class _Transient:
    reason: str


def _check_data(data: Any, api_name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` of a successful answer, checked: ``fields`` a list of names, ``items`` a list."""
    if data is None:  # Tushare answers data null for a request with no rows
        return {"fields": [], "items": [], "has_more": False}
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("fields"), list)
        or not isinstance(data.get("items"), list)
    ):
        shown = json.dumps(data, ensure_ascii=False)[:200] if data is not None else "null"
        raise TushareError(
            f"unexpected schema: 'data' must hold a 'fields' list and an 'items' list, got {shown}",
            api_name=api_name,
            params=params,
        )
    return data


def _frame(
    names: list[str],
    rows: list[list[Any]],
    dtypes: Mapping[str, str],
    api_name: str,
    params: Mapping[str, Any],
) -> pl.DataFrame:
    """The rows as a frame, each declared field cast to its type (an error names the field
    and shows a row whose value does not fit)."""
    columns: dict[str, pl.Series] = {}
    for j, name in enumerate(names):
        values = [r[j] for r in rows]
        kind = dtypes.get(name)
        target = DTYPES.get(kind) if kind else None
        try:
            s = pl.Series(name, values, strict=False)
            if target is not None:
                s = s.cast(target, strict=True)
        except (pl.exceptions.PolarsError, TypeError, ValueError, OverflowError):
            bad = next(
                (r for r in rows if not _fits(r[j], kind or "")),
                rows[0] if rows else [],
            )
            raise TushareError(
                f"unexpected schema: field {name!r} should be {kind or 'one type'}, a value "
                f"does not fit\n  example row:\n"
                + format_examples([dict(zip(names, bad, strict=False))]),
                api_name=api_name,
                params=params,
            ) from None
        columns[name] = s
    return pl.DataFrame(list(columns.values())) if columns else pl.DataFrame()


def _fits(v: Any, kind: str) -> bool:
    if v is None:
        return True
    if kind == "str":
        return isinstance(v, (str, int, float))
    if kind == "int":
        return (isinstance(v, int) and not isinstance(v, bool)) or (
            isinstance(v, str) and v.strip().lstrip("-").isdigit()
        )
    if kind == "float":
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return True
        try:
            float(v)
        except (TypeError, ValueError):
            return False
        return True
    return True
