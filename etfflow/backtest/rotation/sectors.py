"""CITIC level-1 industries by sector, for the holdings' sector mix of Huafu 2026-02
("历史持仓板块分布": 周期, 金融, 制造, 消费, 科技).

An industry not listed here (another classification, a renamed industry) falls in
:data:`OTHER`, so the mix always sums to 1.
"""

from __future__ import annotations

OTHER = "其他"

SECTORS: dict[str, tuple[str, ...]] = {
    "周期": ("石油石化", "煤炭", "有色金属", "钢铁", "基础化工", "建筑", "建材"),
    "金融": ("银行", "非银行金融", "房地产", "综合金融"),
    "制造": (
        "机械",
        "电力设备及新能源",
        "国防军工",
        "汽车",
        "电力及公用事业",
        "公用事业",
        "交通运输",
        "轻工制造",
    ),
    "消费": ("商贸零售", "消费者服务", "家电", "纺织服装", "医药", "食品饮料", "农林牧渔"),
    "科技": ("电子", "通信", "计算机", "传媒"),
    "综合": ("综合",),
}

_OF = {ind: sector for sector, inds in SECTORS.items() for ind in inds}


def sector_of(industry: str) -> str:
    """The sector of a CITIC level-1 industry (``industry`` may carry a ``(中信)`` suffix).

    >>> sector_of("电子"), sector_of("银行(中信)"), sector_of("unknown")
    ('科技', '金融', '其他')
    """
    return _OF.get(industry.removesuffix("(中信)"), OTHER)
