"""etfflow: a vectorised factor engine for China A-share ETF fund-flow research.

Look through every equity ETF's daily basket to the stocks it holds, turn the daily
passive-holding table into factors and test them, point in time. Every metric, factor, processing
step and test statistic is defined in docs/methodology.md (sections 2, 3-4 and 5), with the
research report and table it comes from.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("etfflow")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
