"""The embedded default dataset: a seeded, deterministic synthetic A-share / equity-ETF market.

``generate_market(out, size="small", seed=0)`` writes a dataset folder that follows the data
contract (``etfflow.engine.schemas``): one Parquet file per table, ``etf_pcf`` as the hive folder
``etf_pcf/year=YYYY/data.parquet``, and ``manifest.json`` (size, seed, version, row counts, the
config, the planted effects, generation seconds). Code columns are ``pl.Categorical``; every
table is sorted by its key. Same seed and config give byte-identical Parquet files. The full
description, with every default, is ``docs/synthetic_market.md``; the essentials:

Sizes (``SIZES``)
    ``tiny`` 2023-10..2024-05, 80 stocks, 15 ETFs (tests, < 1 s); ``small`` 2023-01..2024-12,
    800 stocks, 120 ETFs (the demo default, ~1 s); ``full`` 2020-01..2024-12, 5,300 stocks,
    1,000 ETFs, ~152M ``etf_pcf`` rows (~21 s, 3.3 GB peak RSS on 2 cores).

Calendar
    Weekdays minus a fixed list of exchange holidays 2018-2025 (``calendar.HOLIDAYS``).

Stocks
    Real code prefixes per board (600/601/603/605 SH main, 000/001/002/003 SZ main, 300/301
    ChiNext, 688 STAR); 30 CITIC level-1 industries with 2-5 level-2 children, a few
    point-in-time industry changes; float cap log-normal (median 6e9, sd 1.15, in [1e8, 2e12]
    CNY); IPOs listing inside the period, delistings (ST for 140+ days before, no rows from
    ``delist_date``), ST episodes, suspensions (row kept, close carried, ret 0). Raw return
    ``beta*m + industry + size + value + idio`` (market drift per year exact: 2020 +0.0010,
    2021 +0.0002, 2022 -0.0008, 2023 -0.0004, 2024 +0.0005 a day; vols 1.2% / 0.8% / 0.4% /
    0.3% / ~1.8% t(5)), plus the planted impact drift, clipped to the price limit (10% main,
    20% ChiNext/STAR, 5% ST); ``close = round(prev_close * (1 + r), 0.01)``.

Indices
    Float-cap weighted, 10% weight cap, rebalanced at the last trading day of June/December
    (effective the next day) on data known then: CSI 300/500/1000/2000 rank bands, SSE 50,
    ChiNext, STAR 50, one index per level-1 industry and themes (top 100), dividend, dividend
    low-vol, value and growth (band sizes x ``index_scale`` on small/tiny).

ETFs
    Count and category mix from Huaan 2024-12 table 7 scaled to ``n_etfs_end``; AUM per category
    steered to ``aum_frac(t) * share_c(t) * float cap`` (1.0% of float cap at 2019 end to 4.0% at
    2024 end, broad 49% -> 75% of AUM). Basket per creation unit
    ``q = max(1, round(w * V / close / 100)) * 100`` fixed between rebalances, no cash, so
    ``nav = sum(q * close) / creation_unit`` exactly. Month-end ``holding_weights`` are the
    basket weights of that day.

Flow rule (planted; ``flow_beta``)
    ``flow[e,t] = g_c(t) + flow_beta[year] * R20[index(e), t-1] + eta[e,t]`` with ``R20`` the
    tracked index's 20-day return to ``t-1``; shares move in whole creation units.
    ``flow_beta`` = -0.05 (contrarian) in 2019-2023, +0.06 (trend-following) in 2024-2025.

Price impact (planted; ``impact_gamma``)
    ``x[s,t] = sum_e (S[e,t]-S[e,t-1]) * nav[e,t] * w[e,s,t] / float_mcap[s,t]`` (the
    look-through inflow over float cap, docs/methodology.md#23-stock-level-metrics);
    ``ret[s,t] += (1/20) * sum_{k=t-20..t-1} gamma[year(k)] * x[s,k]`` (later returns only).
    ``gamma`` = -24 (2019-2020), -14 (2021-2023), +7 (2024-2025). On ``small`` seed 0 the mean
    monthly Rank IC of ``w_passive_inflow_20`` vs the next 20-day return is -0.057 in 2023 and
    +0.061 in 2024 (seeds 0-7: -0.067 and +0.056, sd 0.02-0.03).

Huafu 2026-02 rotation tables (docs/methodology.md#huafu-2026-02)
    ``index_daily`` (every index), active equity funds buying and holding a tilted portfolio
    between quarter ends (``fund_nav`` exactly its value path minus fees), quarterly top-10
    (``is_full`` false, disclosed 15 trading days later) and semi-annual remaining holdings
    (``is_full`` true, 42 days later), monthly ``fund_issuance`` (ETF listings' initial shares;
    an active-fund path).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from etfflow._common import Progress
from etfflow.data_samples import tables as tb
from etfflow.data_samples.calendar import month_end_positions, trading_days
from etfflow.data_samples.config import SIZES, MarketConfig, by_year
from etfflow.data_samples.rotation import active_funds, fund_issuance, index_daily
from etfflow.data_samples.simulate import SimResult, simulate
from etfflow.data_samples.stocks import factor_returns, make_universe
from etfflow.data_samples.writer import prepare, write_manifest, write_pcf_year, write_table
from etfflow.exceptions import EtfflowError

__all__ = ["MARKET_FORMAT", "SIZES", "MarketConfig", "generate_market", "planted_effects"]


#: Independent random streams, in this order, spawned from ``SeedSequence(seed)``.
_STREAMS = ("universe", "returns", "etfs", "stock_daily", "etf_daily", "funds", "issuance")


#: Version of the generated tables; a demo regenerates a market of an older format.
#: 2: ``index_daily`` gains CNI Growth / CNI Value (399370.SZ / 399371.SZ).
MARKET_FORMAT = 2


def _check(size: str, config: MarketConfig | None, seed: int) -> MarketConfig:
    if config is None:
        if size not in SIZES:
            raise EtfflowError(
                f"unknown market size {size!r}; choose one of {', '.join(SIZES)} "
                "(hint: pass config=MarketConfig(...) for a custom market)"
            )
        config = SIZES[size]
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise EtfflowError(f"seed must be a non-negative integer, got {seed!r}")
    if config.end <= config.start:
        raise EtfflowError(
            f"config {config.name!r}: end {config.end} is not after start {config.start}"
        )
    n_days = len(trading_days(config.start, config.end))
    if n_days < 2 * config.impact_horizon + 10:
        raise EtfflowError(
            f"config {config.name!r}: {n_days} trading days between {config.start} and "
            f"{config.end}; need at least {2 * config.impact_horizon + 10}"
        )
    if config.n_stocks < 20 or config.n_etfs_end < 2:
        raise EtfflowError(
            f"config {config.name!r}: need at least 20 stocks and 2 ETFs "
            f"(got n_stocks={config.n_stocks}, n_etfs_end={config.n_etfs_end})"
        )
    return config


def planted_effects(config: MarketConfig, years: list[int] | None = None) -> dict[str, Any]:
    """The planted flow rule and price impact, per calendar year (as written in the manifest)."""
    years = years or list(range(config.start.year, config.end.year + 1))
    return {
        "flow_rule": {
            "formula": "flow[e,t] = g_cat(t) + flow_beta[year(t)] * R20[index(e), t-1] + eta[e,t]; "
            "shares[e,t] = creation_unit * max(1, floor(shares[e,t-1] * (1 + flow) "
            "/ creation_unit + U(0,1)))",
            "lookback_days": config.flow_lookback,
            "flow_beta": {str(y): by_year(config.flow_beta, y) for y in years},
            "sign": {
                str(y): "contrarian" if by_year(config.flow_beta, y) < 0 else "trend-following"
                for y in years
            },
        },
        "price_impact": {
            "formula": "ret[s,t] += (1/H) * sum_{k=t-H..t-1} impact_gamma[year(k)] * x[s,k], "
            "x[s,k] = sum_e (S[e,k]-S[e,k-1]) * nav[e,k] * w[e,s,k] / float_mcap[s,k]",
            "horizon_days": config.impact_horizon,
            "impact_gamma": {str(y): by_year(config.impact_gamma, y) for y in years},
            "signal": "w_passive_inflow_20 (20-day sum of inflow / float cap)",
            "expected_rank_ic_sign": {
                str(y): int(np.sign(by_year(config.impact_gamma, y))) for y in years
            },
        },
    }


def generate_market(
    out: str | Path,
    *,
    size: str = "small",
    seed: int = 0,
    config: MarketConfig | None = None,
    progress: Progress | None = None,
) -> Path:
    """Generate a synthetic market and write it as a dataset folder.

    Parameters
    ----------
    out
        Folder to write (created; tables a previous run wrote there are replaced).
    size
        ``"tiny"``, ``"small"`` or ``"full"`` (ignored when ``config`` is given).
    seed
        Seed of every random draw; the same seed and config give byte-identical Parquet files.
    config
        A custom :class:`MarketConfig` (e.g. ``dataclasses.replace(SIZES["tiny"], ...)``).
    progress
        Called as ``progress(stage, done, total)`` while the work advances.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    EtfflowError
        Unknown size, negative seed, or a config too small to simulate.

    Examples
    --------
    >>> import tempfile
    >>> from etfflow.engine.loading import open_dataset
    >>> path = generate_market(tempfile.mkdtemp(), size="tiny", seed=1)
    >>> sorted(open_dataset(path).paths)[:3]
    ['active_funds', 'active_holdings', 'etf_daily']
    """
    cfg = _check(size, config, seed)
    out = Path(out)

    def report(stage: str, done: int, total: int) -> None:
        if progress is not None:
            progress(stage, done, total)

    rngs = dict(
        zip(
            _STREAMS,
            (
                np.random.default_rng(s)
                for s in np.random.SeedSequence(int(seed)).spawn(len(_STREAMS))
            ),
            strict=True,
        )
    )
    days = trading_days(cfg.start, cfg.end)
    report("stocks", 0, 1)
    uni = make_universe(cfg, days, rngs["universe"])
    r_raw = factor_returns(cfg, days, uni, rngs["returns"])
    report("stocks", 1, 1)
    res = simulate(cfg, days, uni, r_raw, rngs["etfs"], progress)
    del r_raw
    prepare(out)
    rows = _write_all(out, cfg, res, rngs, report)
    manifest = {
        "generator": "etfflow.data_samples",
        "size": cfg.name if config is not None else size,
        "seed": int(seed),
        "etfflow_version": _version(),
        "format": MARKET_FORMAT,
        "start": str(days[0]),
        "end": str(days[-1]),
        "n_trading_days": len(days),
        "row_counts": rows,
        "indices": [
            {
                "index_code": d.code,
                "name": d.short,
                "category": ("broad", "sector", "style")[d.category],
            }
            for d in res.defs
        ],
        "planted_effects": planted_effects(cfg),
        "config": cfg.to_json(),
    }
    write_manifest(out, manifest)
    return out


def _version() -> str:
    from etfflow._version import __version__

    return __version__


def _write_all(
    out: Path,
    cfg: MarketConfig,
    res: SimResult,
    rngs: dict[str, np.random.Generator],
    report: Progress,
) -> dict[str, int]:
    rows: dict[str, int] = {}
    steps = 11
    report("write", 0, steps)
    rows["stocks"] = write_table(out, "stocks", tb.stocks(res))
    rows["stock_industry"] = write_table(out, "stock_industry", tb.stock_industry(res))
    rows["stock_daily"] = write_table(
        out,
        "stock_daily",
        tb.stock_daily(res, rngs["stock_daily"], cfg.turnover_median, cfg.limit_st),
    )
    report("write", 3, steps)
    rows["etfs"] = write_table(out, "etfs", tb.etfs(res))
    rows["etf_daily"] = write_table(out, "etf_daily", tb.etf_daily(res, rngs["etf_daily"]))
    report("write", 5, steps)
    years = np.unique(res.days.astype("datetime64[Y]"))
    n_pcf = 0
    for i, (y, df) in enumerate(tb.etf_pcf_years(res)):
        n_pcf += write_pcf_year(out, y, df)
        del df
        report("etf_pcf", i + 1, len(years))
    rows["etf_pcf"] = n_pcf
    rows["holding_weights"] = write_table(
        out, "holding_weights", tb.holding_weights(res, month_end_positions(res.days))
    )
    report("write", 7, steps)
    rows["index_daily"] = write_table(out, "index_daily", index_daily(cfg, res))
    funds, hold, nav = active_funds(cfg, res, rngs["funds"])
    rows["active_funds"] = write_table(out, "active_funds", funds)
    rows["active_holdings"] = write_table(out, "active_holdings", hold)
    rows["fund_nav"] = write_table(out, "fund_nav", nav)
    rows["fund_issuance"] = write_table(
        out, "fund_issuance", fund_issuance(cfg, res, rngs["issuance"])
    )
    report("write", steps, steps)
    return rows
