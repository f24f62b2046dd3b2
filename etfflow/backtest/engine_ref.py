"""Reference twin of the evaluation engine: plain Python loops over the calendar,
groups and portfolios of docs/methodology.md#5-backtests, tests only.

Slow and obviously correct: one period, one asset, one day at a time, positions as
dictionaries of values. :func:`etfflow.backtest.engine.evaluate` must agree with
:func:`evaluate_reference` on IC, group returns, turnover and every NAV series. Quantile
edges come from ``np.quantile`` itself (the fast path re-implements its arithmetic).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from etfflow.engine.universe import TradingRules


@dataclass
class ReferenceResult:
    """Per factor: ``ic``, ``rank_ic``, ``n`` (K,), ``group_ret``/``group_n``/``turnover``
    (G, K) with NaN returns for empty groups, ``nav[series]`` (T,) daily, ``direction``,
    ``active`` (K,) the periods with a cross-section, ``metrics`` (whole-sample
    ``n_periods``, win rates, annualised long and benchmark returns); ``benchmark_ret``
    (K,) the benchmark's period returns."""

    rebal: list[int]
    start: list[int]
    end: list[int]
    ic: dict[str, np.ndarray] = field(default_factory=dict)
    rank_ic: dict[str, np.ndarray] = field(default_factory=dict)
    n: dict[str, np.ndarray] = field(default_factory=dict)
    group_ret: dict[str, np.ndarray] = field(default_factory=dict)
    group_n: dict[str, np.ndarray] = field(default_factory=dict)
    turnover: dict[str, np.ndarray] = field(default_factory=dict)
    nav: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    direction: dict[str, int] = field(default_factory=dict)
    directions: dict[str, np.ndarray] = field(default_factory=dict)
    members: dict[str, set[tuple[int, str, int, int]]] = field(default_factory=dict)
    active: dict[str, list[bool]] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    benchmark_ret: np.ndarray | None = None


def _periods(dates, first, rebalance, lag):
    t = len(dates)
    if rebalance == "month":
        cand = []
        for i in range(t):
            d = dates[i].astype(object)
            if i + 1 < t:
                nxt = dates[i + 1].astype(object)
                if (nxt.year, nxt.month) != (d.year, d.month):
                    cand.append(i)
            else:
                # last date: a month end only if no weekday of its month follows
                day = dates[i] + 1
                complete = True
                while day.astype("datetime64[M]") == dates[i].astype("datetime64[M]"):
                    if day.astype(object).weekday() < 5:
                        complete = False
                    day = day + 1
                if complete:
                    cand.append(i)
        cand = [c for c in cand if c >= first]
    else:
        cand = list(range(first, t, rebalance))
    rebal, start, end = [], [], []
    for k in range(len(cand) - 1):
        if cand[k + 1] + lag <= t - 1:
            rebal.append(cand[k])
            start.append(cand[k] + lag)
            end.append(cand[k + 1] + lag)
    return rebal, start, end


def _pearson(x, y):
    n = len(x)
    if n < 2:
        return math.nan
    mx = sum(x) / n
    my = sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx <= 0 or syy <= 0:
        return math.nan
    return sxy / math.sqrt(sxx * syy)


def _avg_ranks(x):
    n = len(x)
    order = sorted(range(n), key=lambda i: x[i])
    ranks = [0.0] * n
    j = 0
    while j < n:
        k = j
        while k + 1 < n and x[order[k + 1]] == x[order[j]]:
            k += 1
        for m in range(j, k + 1):
            ranks[order[m]] = (j + k) / 2 + 1
        j = k + 1
    return ranks


def _qcut(values, groups):
    """0-based labels of ``pd.qcut(values, groups, labels=False)`` (rank fallback on ties)."""
    q = np.linspace(0, 1, groups + 1)
    np.putmask(q, groups * q != np.arange(groups + 1), np.nextafter(q, 1))
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    edges = np.quantile(v, q, method="linear")
    if len(set(edges.tolist())) == len(edges):
        ids = np.searchsorted(edges, v, side="left")
        ids[v == edges[0]] = 1
        return [int(i) - 1 for i in ids]
    ranks = _avg_ranks(list(v))
    if n == 1:
        return [0]
    return [max(math.ceil((r - 1) * groups / (n - 1)) - 1, 0) for r in ranks]


def _annualised(period_returns, days):
    growth = 1.0
    for x in period_returns:
        growth *= 1.0 + x
    if not (days > 0 and math.isfinite(growth) and growth > 0):
        return math.nan
    return growth ** (242 / days) - 1.0


def rolling_directions(rank_ic: list[float], end, rebal) -> list[int]:
    """Direction of each period under ``"rolling"``: the sign of the mean of the finite Rank
    ICs of the periods that ended by its signal day (+1 when none, or a zero mean)."""
    out = []
    for k in range(len(rebal)):
        known = [
            rank_ic[j]
            for j in range(len(rebal))
            if end[j] <= rebal[k] and math.isfinite(rank_ic[j])
        ]
        total = 0.0
        for x in known:
            total += x
        out.append(-1 if known and total / len(known) < 0 else 1)
    return out


def evaluate_reference(
    factors: dict[str, np.ndarray],
    returns: np.ndarray,
    dates: np.ndarray,
    *,
    rules: TradingRules | None = None,
    groups: int = 10,
    direction: int | str = "auto",
    rebalance: int | str = 20,
    lag: int = 1,
    cost_bps: float = 0.0,
    benchmark: np.ndarray | None = None,
) -> ReferenceResult:
    """Loop version of :func:`etfflow.backtest.engine.evaluate` (same arguments).

    The calendar starts on day 0 of ``dates`` whatever the factors; a period counts for a
    factor when at least one universe asset has a factor value and a forward return. Other
    periods hold nothing (portfolios restart from cash after them) and leave the NAVs NaN
    with the level unchanged.
    """
    t, m = returns.shape
    dates = np.asarray(dates, dtype="datetime64[D]")
    rebal, start, end = _periods(dates, 0, rebalance, lag)
    out = ReferenceResult(rebal, start, end)
    k_n = len(rebal)

    def has(d, i):
        return math.isfinite(returns[d, i])

    def r(d, i):
        return returns[d, i] if has(d, i) else 0.0

    def growth(a, d, i):
        g = 1.0
        for j in range(a + 1, d + 1):
            g *= 1.0 + r(j, i)
        return g

    fwd = [
        [growth(start[k], end[k], i) - 1.0 if has(start[k], i) else math.nan for i in range(m)]
        for k in range(k_n)
    ]

    def can_buy(k, i):
        return has(start[k], i) and (rules is None or bool(rules.can_buy[start[k], i]))

    def can_sell(k, i):
        return (not has(start[k], i)) or rules is None or bool(rules.can_sell[start[k], i])

    def in_universe(k, i):
        return has(rebal[k], i) and (rules is None or bool(rules.universe[rebal[k], i]))

    def in_bench(k, i):
        ok = has(rebal[k], i) and has(start[k], i)
        return ok and (rules is None or bool(rules.benchmark[rebal[k], i]))

    def simulate(targets, active, rules_apply=True):
        """targets[k] = set of target names; returns (paths dict day->value, ret, n, buy, sell).

        The benchmark (``rules_apply=False``) buys every target with a return on the trade day
        and never carries a position. An inactive period holds nothing: NaN return and
        shares, 0 names, and the next period starts from an empty portfolio."""
        weights: dict[int, float] = {}
        cash = 1.0
        path = {}
        rets, ns, buys, sells = [], [], [], []
        for k in range(k_n):
            a, b = start[k], end[k]
            if not active[k]:
                weights, cash = {}, 1.0
                rets.append(math.nan)
                ns.append(0)
                buys.append(math.nan)
                sells.append(math.nan)
                continue
            prev = dict(weights)
            if prev:
                vals = {i: w * growth(start[k - 1], a, i) for i, w in prev.items()}
                tot = cash + sum(vals.values())
                prev = {i: v / tot for i, v in vals.items()} if tot > 0 else vals
            locked = {i: w for i, w in prev.items() if rules_apply and not can_sell(k, i)}
            rest = 1.0 - sum(locked.values())
            free = [
                i
                for i in range(m)
                if i in targets[k]
                and i not in locked
                and ((can_buy(k, i) if rules_apply else has(start[k], i)) or i in prev)
            ]
            if rest <= 1e-12:  # everything held is locked: nothing left to buy with
                free = []
            weights = dict(locked)
            if free:
                for i in free:
                    weights[i] = rest / len(free)
                cash = 0.0
            else:
                cash = rest
            names = set(weights)
            buys.append(len(names - set(prev)) / len(names) if names else 0.0)
            sells.append(len(set(prev) - names) / len(prev) if prev else 0.0)
            ns.append(len(names))
            for d in range(a + 1, b + 1):
                path[d] = cash + sum(w * growth(a, d, i) for i, w in weights.items())
            rets.append(path[b] - 1.0)
        return path, rets, ns, buys, sells

    def nav_of(day_ret, active):
        """day_ret(k, d) = period-to-date return of period k on day d; NaN outside active
        periods, the level carried over inactive ones."""
        nav = np.full(t, np.nan)
        level = 1.0
        for k in range(k_n):
            if not active[k]:
                continue
            nav[start[k]] = level
            for d in range(start[k] + 1, end[k] + 1):
                nav[d] = level * (1.0 + day_ret(k, d))
            level = nav[end[k]]
        return nav

    if benchmark is None:
        bench_targets = [{i for i in range(m) if in_bench(k, i)} for k in range(k_n)]
        b_path, b_ret, _, _, _ = simulate(bench_targets, [True] * k_n, rules_apply=False)
    else:  # an index: compounded from the trade day, period by period
        b_path, b_ret = {}, []
        for k in range(k_n):
            level = 1.0
            for d in range(start[k] + 1, end[k] + 1):
                level *= 1.0 + float(benchmark[d])
                b_path[d] = level
            b_ret.append(level - 1.0)
    rate = cost_bps * 1e-4

    for name, f in factors.items():
        ic, ric, cnt = [], [], []
        labels = []
        for k in range(k_n):
            assets = [
                i
                for i in range(m)
                if in_universe(k, i) and math.isfinite(f[rebal[k], i]) and math.isfinite(fwd[k][i])
            ]
            x = [float(f[rebal[k], i]) for i in assets]
            y = [fwd[k][i] for i in assets]
            ic.append(_pearson(x, y))
            ric.append(_pearson(_avg_ranks(x), _avg_ranks(y)) if x else math.nan)
            cnt.append(len(assets))
            lab = dict(zip(assets, _qcut(x, groups), strict=True)) if x else {}
            labels.append(lab)
        ric_arr = np.array(ric)
        act = [c >= 1 for c in cnt]
        if direction == "rolling":
            dks = rolling_directions(ric, end, rebal)
        elif direction == "auto":
            mr = np.nanmean(ric_arr) if np.isfinite(ric_arr).any() else math.nan
            dks = [-1 if (math.isfinite(mr) and mr < 0) else 1] * k_n
        else:
            dks = [int(direction)] * k_n
        sims = []
        for g in range(groups):
            targets = [{i for i, lab in labels[k].items() if lab == g} for k in range(k_n)]
            sims.append(simulate(targets, act))
        costs = np.array([[rate * (s[3][k] + s[4][k]) for k in range(k_n)] for s in sims])
        g_ret = np.array([[sims[g][1][k] - costs[g, k] for k in range(k_n)] for g in range(groups)])
        g_n = np.array([sims[g][2] for g in range(groups)])
        # long / short group of each period: the top group when the period's direction is +1
        lo = [groups - 1 if dk == 1 else 0 for dk in dks]
        hi = [0 if dk == 1 else groups - 1 for dk in dks]

        def pr(g, k, dd, sims=sims, costs=costs):
            return sims[g][0][dd] - 1.0 - costs[g, k]

        out.nav[name] = {
            "long": nav_of(lambda k, dd, lo=lo: pr(lo[k], k, dd), act),
            "short": nav_of(lambda k, dd, hi=hi: pr(hi[k], k, dd), act),
            "long_short": nav_of(
                lambda k, dd, lo=lo, hi=hi: pr(lo[k], k, dd) - pr(hi[k], k, dd), act
            ),
            "benchmark": nav_of(lambda k, dd: b_path[dd] - 1.0, act),
            "excess": nav_of(lambda k, dd, lo=lo: pr(lo[k], k, dd) - (b_path[dd] - 1.0), act),
        }
        ks = [k for k in range(k_n) if act[k]]
        days = sum(end[k] - start[k] for k in ks)  # trading days held
        long_k = [g_ret[lo[k]][k] for k in ks]
        bench_k = [b_ret[k] for k in ks]
        out.metrics[name] = {
            "n_periods": len(ks),
            "win_rate_vs_benchmark": (
                sum(x > y for x, y in zip(long_k, bench_k, strict=True)) / len(ks)
                if ks
                else math.nan
            ),
            "win_rate_absolute": sum(x > 0 for x in long_k) / len(ks) if ks else math.nan,
            "long_ann_return": _annualised(long_k, days),
            "benchmark_ann_return": _annualised(bench_k, days),
        }
        out.active[name] = act
        out.ic[name] = np.array(ic)
        out.rank_ic[name] = ric_arr
        out.n[name] = np.array(cnt)
        out.group_ret[name] = np.where(g_n > 0, g_ret, np.nan)
        out.group_n[name] = g_n
        out.turnover[name] = np.array([sims[g][3] for g in range(groups)])
        out.direction[name] = dks[-1] if dks else 1
        # (period, leg, 1-based group, asset) of the long and short groups' targets
        out.members[name] = {
            (k, leg, g + 1, i)
            for k in range(k_n)
            for leg, g in (("long", lo[k]), ("short", hi[k]))
            for i, lab in labels[k].items()
            if lab == g
        }
        out.directions[name] = np.array(dks)
    out.benchmark_ret = np.array(b_ret)
    return out
