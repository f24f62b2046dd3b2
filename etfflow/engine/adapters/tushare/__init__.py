"""Tushare Pro: ``fetch`` downloads raw endpoint tables into a raw folder (``raw``), ``import``
converts a raw folder into the data contract."""
