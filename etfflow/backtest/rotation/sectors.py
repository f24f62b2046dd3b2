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


#: English names of the CITIC level-1 industries and of the sectors, for charts drawn without a
#: CJK font (the HTML tables keep the Chinese names, which the browser draws).
ENGLISH: dict[str, str] = {
    "石油石化": "Petrochemicals",
    "煤炭": "Coal",
    "有色金属": "Non-ferrous metals",
    "电力及公用事业": "Utilities",
    "公用事业": "Utilities",
    "钢铁": "Steel",
    "基础化工": "Chemicals",
    "建筑": "Construction",
    "建材": "Building materials",
    "轻工制造": "Light manufacturing",
    "机械": "Machinery",
    "电力设备及新能源": "Power equipment",
    "国防军工": "Defence",
    "汽车": "Autos",
    "商贸零售": "Retail",
    "消费者服务": "Consumer services",
    "家电": "Home appliances",
    "纺织服装": "Textiles",
    "医药": "Healthcare",
    "食品饮料": "Food & beverage",
    "农林牧渔": "Agriculture",
    "银行": "Banks",
    "非银行金融": "Non-bank financials",
    "房地产": "Real estate",
    "交通运输": "Transportation",
    "电子": "Electronics",
    "通信": "Telecom",
    "计算机": "Computers",
    "传媒": "Media",
    "综合": "Conglomerates",
    "综合金融": "Diversified financials",
    "周期": "Cyclicals",
    "金融": "Financials",
    "制造": "Manufacturing",
    "消费": "Consumer",
    "科技": "Technology",
    OTHER: "Other",
}


def english(name: str) -> str:
    """The English name of an industry or sector (``name`` itself when unknown).

    >>> english("银行"), english("电子(中信)"), english("X")
    ('Banks', 'Electronics', 'X')
    """
    return ENGLISH.get(name.removesuffix("(中信)"), name)
