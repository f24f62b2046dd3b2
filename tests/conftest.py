"""Hypothesis profiles, chosen by ``ETFFLOW_HYPOTHESIS`` (STYLE.md, Tests): the one place a
test run's example counts and randomness are set.

- ``fast`` (default, used by CI): derandomised, so a CI run is reproducible and a failure
  found once is found again; per-test ``max_examples`` settings apply.
- ``thorough``: random exploration; the modules whose count comes from
  :func:`tests.helpers.examples` run this profile's 500 examples per test.
- ``explore``: random exploration at the default sizes (find new counter-examples locally).

Test modules never read the environment for example counts: they call
:func:`tests.helpers.examples`, which asks the loaded profile.
"""

from __future__ import annotations

import os

from hypothesis import settings

# The CLI compiles numba kernels in a helper process on a cold cache (etfflow.pipeline.warm);
# tests run commands in-process many times, so only tests/pipeline/test_warm.py turns it on.
os.environ.setdefault("ETFFLOW_BACKGROUND_COMPILE", "0")

settings.register_profile("fast", derandomize=True, deadline=None, print_blob=True)
settings.register_profile(
    "thorough", derandomize=False, deadline=None, print_blob=True, max_examples=500
)
settings.register_profile("explore", derandomize=False, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("ETFFLOW_HYPOTHESIS", "fast"))
