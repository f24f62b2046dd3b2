"""Hypothesis profiles, chosen by ``ETFFLOW_HYPOTHESIS`` (STYLE.md, Tests).

- ``fast`` (default, used by CI): derandomised, so a CI run is reproducible and a failure
  found once is found again; per-test ``max_examples`` settings apply.
- ``thorough``: random exploration with the long runs some test files enable.
- ``explore``: random exploration at the default sizes (find new counter-examples locally).
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("fast", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("thorough", derandomize=False, deadline=None, print_blob=True)
settings.register_profile("explore", derandomize=False, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("ETFFLOW_HYPOTHESIS", "fast"))
