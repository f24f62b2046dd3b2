"""Trading calendar: weekdays minus a fixed list of SSE/SZSE holiday closures (2018-2025).

The closures are approximate (the real exchange notices shift a day here and there) but fixed,
so a calendar is reproducible without any download.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

#: Exchange closures on weekdays: (first day, last day), inclusive.
HOLIDAYS: tuple[tuple[str, str], ...] = (
    # 2018
    ("2018-01-01", "2018-01-01"),
    ("2018-02-15", "2018-02-21"),
    ("2018-04-05", "2018-04-06"),
    ("2018-04-30", "2018-05-01"),
    ("2018-06-18", "2018-06-18"),
    ("2018-09-24", "2018-09-24"),
    ("2018-10-01", "2018-10-05"),
    ("2018-12-31", "2018-12-31"),
    # 2019
    ("2019-01-01", "2019-01-01"),
    ("2019-02-04", "2019-02-08"),
    ("2019-04-05", "2019-04-05"),
    ("2019-05-01", "2019-05-03"),
    ("2019-06-07", "2019-06-07"),
    ("2019-09-13", "2019-09-13"),
    ("2019-10-01", "2019-10-07"),
    # 2020
    ("2020-01-01", "2020-01-01"),
    ("2020-01-24", "2020-01-31"),
    ("2020-04-06", "2020-04-06"),
    ("2020-05-01", "2020-05-05"),
    ("2020-06-25", "2020-06-26"),
    ("2020-10-01", "2020-10-08"),
    # 2021
    ("2021-01-01", "2021-01-01"),
    ("2021-02-11", "2021-02-17"),
    ("2021-04-05", "2021-04-05"),
    ("2021-05-03", "2021-05-05"),
    ("2021-06-14", "2021-06-14"),
    ("2021-09-20", "2021-09-21"),
    ("2021-10-01", "2021-10-07"),
    # 2022
    ("2022-01-03", "2022-01-03"),
    ("2022-01-31", "2022-02-04"),
    ("2022-04-04", "2022-04-05"),
    ("2022-05-02", "2022-05-04"),
    ("2022-06-03", "2022-06-03"),
    ("2022-09-12", "2022-09-12"),
    ("2022-10-03", "2022-10-07"),
    # 2023
    ("2023-01-02", "2023-01-02"),
    ("2023-01-23", "2023-01-27"),
    ("2023-04-05", "2023-04-05"),
    ("2023-05-01", "2023-05-03"),
    ("2023-06-22", "2023-06-23"),
    ("2023-09-29", "2023-10-06"),
    # 2024
    ("2024-01-01", "2024-01-01"),
    ("2024-02-09", "2024-02-16"),
    ("2024-04-04", "2024-04-05"),
    ("2024-05-01", "2024-05-03"),
    ("2024-06-10", "2024-06-10"),
    ("2024-09-16", "2024-09-17"),
    ("2024-10-01", "2024-10-07"),
    # 2025
    ("2025-01-01", "2025-01-01"),
    ("2025-01-28", "2025-02-04"),
    ("2025-04-04", "2025-04-04"),
    ("2025-05-01", "2025-05-05"),
    ("2025-06-02", "2025-06-02"),
    ("2025-10-01", "2025-10-08"),
)


def holiday_set() -> set[dt.date]:
    """Every weekday on which the exchanges are closed."""
    out: set[dt.date] = set()
    for a, b in HOLIDAYS:
        d, e = dt.date.fromisoformat(a), dt.date.fromisoformat(b)
        while d <= e:
            out.add(d)
            d += dt.timedelta(days=1)
    return out


def trading_days(start: dt.date, end: dt.date) -> np.ndarray:
    """Trading days in ``[start, end]`` as ``datetime64[D]`` (weekdays minus :data:`HOLIDAYS`)."""
    days = np.arange(np.datetime64(start, "D"), np.datetime64(end, "D") + 1)
    wd = np.is_busday(days)
    hol = np.array(sorted(holiday_set()), dtype="datetime64[D]")
    return days[wd & ~np.isin(days, hol)]


def month_end_positions(days: np.ndarray) -> np.ndarray:
    """Positions of the last trading day of each calendar month in ``days``."""
    months = days.astype("datetime64[M]")
    last = np.flatnonzero(months[1:] != months[:-1])
    return np.append(last, len(days) - 1).astype(np.int64)


def years_of(days: np.ndarray) -> np.ndarray:
    """Calendar year of each day (int)."""
    return days.astype("datetime64[Y]").astype(np.int64) + 1970
