"""Helpers shared by the test modules (one place; ``tests/conftest.py`` holds the fixtures and
the hypothesis profiles)."""

from __future__ import annotations

import datetime as dt

from hypothesis import settings

#: Profile (``ETFFLOW_HYPOTHESIS``, registered in ``tests/conftest.py``) whose example count
#: replaces the per-module ones of :func:`examples`.
THOROUGH = "thorough"


def examples(fast: int) -> int:
    """``max_examples`` of a module's hypothesis tests: ``fast`` under the default profiles,
    the ``thorough`` profile's own count (a long run) under that one."""
    if settings.get_current_profile_name() == THOROUGH:
        return settings.get_profile(THOROUGH).max_examples
    return fast


def weekdays(n: int, start: dt.date = dt.date(2024, 1, 1)) -> list[dt.date]:
    """The first ``n`` weekdays from ``start`` on (no holidays)."""
    out, d = [], start
    while len(out) < n:
        if d.weekday() < 5:
            out.append(d)
        d += dt.timedelta(days=1)
    return out
