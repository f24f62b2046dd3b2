"""etfflow: a vectorised factor engine for China A-share ETF fund-flow research.

Look through every equity ETF's daily basket to the stocks it holds (SPEC §2), turn the daily
passive-holding table into factors (SPEC §3-§4) and test them (SPEC §5), point in time.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("etfflow")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
