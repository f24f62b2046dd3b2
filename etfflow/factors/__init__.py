"""Factors: the window metrics at stock and industry level, and cross-sectional processing.

Definitions: docs/methodology.md#3-factors and docs/methodology.md#4-cross-sectional-processing.

- :mod:`etfflow.factors.kernels` — rolling statistics (numba kernels in ``kernels_nb``,
  twins in ``kernels_ref``).
- :mod:`etfflow.factors.registry` — :func:`factor` declares a factor once; :func:`resolve`
  picks them by name.
- :mod:`etfflow.factors.definitions` — every factor of docs/methodology.md#32-the-factor-families.
- :mod:`etfflow.factors.inputs` — dense stock / industry input panels.
- :mod:`etfflow.factors.compute` — :func:`compute_factors`, :func:`process`, wide tables.
- :mod:`etfflow.factors.processing` — winsorise, fill, z-score, neutralise, strip.
- :mod:`etfflow.factors.processing_pipeline` — pipeline strings: parse, describe, apply.
"""

from __future__ import annotations

from etfflow.factors.compute import FactorSet, compute_factors, process
from etfflow.factors.inputs import FactorInputs, industry_inputs, stock_inputs
from etfflow.factors.registry import FactorDef, factor, registry, resolve

__all__ = [
    "FactorDef",
    "FactorInputs",
    "FactorSet",
    "compute_factors",
    "factor",
    "industry_inputs",
    "process",
    "registry",
    "resolve",
    "stock_inputs",
]
