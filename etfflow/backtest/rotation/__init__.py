"""Industry rotation from ETF flows (Huafu 2026-02): weekly look-through to industries, style
regimes from a one-sided HP filter, divergence from active equity funds and a composite top-k
strategy (docs/methodology.md#8-industry-rotation)."""
