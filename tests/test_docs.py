"""User-facing text cites docs/methodology.md and the source reports by name.

Users do not have the internal spec or the numbered seed files, so the package source
(docstrings, comments, CLI output, help, HTML report text, stored metadata), the README and
docs/synthetic_market.md must not cite them. Rules, checked line by line:

- no ``SPEC`` (the word, upper case), no prose "the spec" / "spec's", no ``DATA_CONTRACT``;
- no seed file numbers: ``seed 000``, ``seeds 000``, ``seed-001``, ``seed table 7``;
- ``§`` only cites a report's own section: it directly follows the report's short name,
  optionally with its date (``Huaan §3.3``, ``Huaan 2024-12 §4.2``, ``Kaiyuan 2024-09 §2``).

Every ``methodology.md#anchor`` link (package, README, docs) must name a heading of
docs/methodology.md (GitHub anchors), and so must methodology.md's own ``(#anchor)`` links.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from etfflow.factors.registry import registry

ROOT = Path(__file__).resolve().parents[1]
METHODOLOGY = ROOT / "docs" / "methodology.md"


#: (rule, pattern) pairs; a match anywhere on a line is a hit.
FORBIDDEN: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("SPEC", re.compile(r"\bSPEC\b")),
    ("spec in prose", re.compile(r"(?i)\b(?:the|a|this|our) spec\b|\bspec's\b")),
    ("data contract file", re.compile(r"DATA_CONTRACT")),
    ("seed report", re.compile(r"(?i)\bseeds?[- ]00\d")),
    ("seed table", re.compile(r"(?i)\bseed tables?\b")),
)
#: What a report-section "§" must directly follow.
REPORT_BEFORE_SECTION = re.compile(r"\b(?:Huaan|Kaiyuan|Huafu)(?: \d{4}-\d{2})? $")
LINK = re.compile(r"methodology\.md#([\w-]+)")
SELF_LINK = re.compile(r"\]\(#([\w-]+)\)")


def hits(text: str) -> list[tuple[int, str, str]]:
    """``(line number, rule, line)`` for every forbidden citation in ``text``."""
    out = []
    for i, line in enumerate(text.splitlines(), 1):
        for rule, pat in FORBIDDEN:
            if pat.search(line):
                out.append((i, rule, line.strip()))
        for m in re.finditer("§", line):
            if not REPORT_BEFORE_SECTION.search(line[: m.start()]):
                out.append((i, "§ not after a report name", line.strip()))
    return out


def github_anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """Anchors of every heading outside code fences (repeats get ``-1``, ``-2``...)."""
    seen: dict[str, int] = {}
    out = set()
    fenced = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        m = re.match(r"#{1,6}\s+(.+?)\s*#*\s*$", line)
        if fenced or not m:
            continue
        a = github_anchor(m.group(1))
        n = seen.get(a, 0)
        seen[a] = n + 1
        out.add(a if n == 0 else f"{a}-{n}")
    return out


def user_facing_files() -> list[Path]:
    files = sorted((ROOT / "etfflow").rglob("*.py"))
    files += [ROOT / "README.md", ROOT / "docs" / "synthetic_market.md"]
    return files


# ----------------------------------------------------------------------------- the rules
@pytest.mark.parametrize(
    "line",
    [
        '"""Time-series rank correlation (SPEC §5.4)."""',
        "# see the spec's order",
        "the spec is silent here",
        "cf. seed 000 table 9",
        "# Seed 000 table 7: counts",
        "columns of seed-001",
        "in the columns of the seed table",
        "Windows of the §3 factors",
        "methodology §2.3",
        "Huaan §3.3 and §4.1",
        "see DATA_CONTRACT.md",
    ],
)
def test_rules_catch_internal_citations(line):
    assert hits(line), line


@pytest.mark.parametrize(
    "line",
    [
        "(cf. Huaan 2024-12, table 9)",
        "Huaan §3.3 (单因子测试参数)",
        'source="Huaan 2024-12 §4.2, table 52"',
        "Kaiyuan 2024-09 §2 and Huaan 2024-12 §2.2.2–2.2.3",
        "generate_market(out, size='tiny', seed=0); seeds 0-7 (sd 0.02)",
        "grid = fig.add_gridspec(6, 2)",
        "spec = TABLES[table].columns",
        "docs/methodology.md#52-calendar",
    ],
)
def test_rules_allow_report_citations_and_code(line):
    assert hits(line) == []


def test_no_internal_spec_or_seed_citations():
    found = []
    for path in user_facing_files():
        for i, rule, line in hits(path.read_text(encoding="utf-8")):
            found.append(f"{path.relative_to(ROOT)}:{i}: {rule}: {line}")
    assert not found, "cite docs/methodology.md or the report by name:\n" + "\n".join(found)


def test_the_scan_covers_package_readme_and_docs():
    scanned = {p.relative_to(ROOT).as_posix() for p in user_facing_files()}
    assert {"etfflow/cli/backtest.py", "etfflow/engine/validation/rules.py", "README.md"} <= scanned


# ----------------------------------------------------------------------------- anchors
def test_github_anchor_rules():
    assert github_anchor("5.2 Calendar") == "52-calendar"
    assert (
        github_anchor("2.5 Group level: industries, boards, cap quintiles")
        == "25-group-level-industries-boards-cap-quintiles"
    )
    assert github_anchor("5.6 Portfolios, long, short and long-short") == (
        "56-portfolios-long-short-and-long-short"
    )
    assert github_anchor("Huafu 2026-02") == "huafu-2026-02"
    assert anchors("# A\n```\n# not a heading\n```\n## A\n") == {"a", "a-1"}


def test_methodology_links_resolve():
    known = anchors(METHODOLOGY.read_text(encoding="utf-8"))
    assert {"52-calendar", "source-reports", "7-choices-where-the-reports-are-silent"} <= known
    links = []
    for path in user_facing_files():
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            links += [(f"{path.relative_to(ROOT)}:{i}", a) for a in LINK.findall(line)]
    text = METHODOLOGY.read_text(encoding="utf-8")
    links += [("docs/methodology.md", a) for a in SELF_LINK.findall(text)]
    assert len(links) > 30  # the package, README and docs do link to it
    broken = [f"{where}: #{a}" for where, a in links if a not in known]
    assert not broken, "no such heading in docs/methodology.md:\n" + "\n".join(broken)


# ----------------------------------------------------------------------------- sources
def _factor_rows() -> dict[str, str]:
    """Factor name (``{n}`` / ``N`` as ``n``) -> source cell of methodology's factor table."""
    text = METHODOLOGY.read_text(encoding="utf-8")
    section = text.split("### 3.2 The factor families", 1)[1].split("\n### ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\| `([A-Za-z0-9_]+)` \|", line)
        if m:
            name = re.sub(r"_N$", "_n", m.group(1))
            rows[name] = line.rsplit("|", 2)[-2]
    return rows


def test_every_factor_source_names_a_report_and_matches_methodology():
    rows = _factor_rows()
    defs = registry()
    builtin = {t: d for t, d in defs.items() if d.source != "user"}
    assert len(builtin) >= 16
    for template, d in builtin.items():
        src = d.source
        m = re.fullmatch(r"(Huaan 2024-12|Kaiyuan 2024-09|Huafu 2026-02) (.+)", src)
        assert m, f"{template}: source {src!r} does not start with a report's short name"
        report, rest = m.group(1).split()[0], m.group(2)
        assert "§" not in src or REPORT_BEFORE_SECTION.search(src[: src.index("§")])
        row = rows[template.replace("_{n}", "_n")]
        assert report in row, (template, src, row)
        for sec in re.findall(r"§([\d.]+)", rest):
            assert f"§{sec}" in row, (template, sec, row)
        for tables in re.findall(r"tables? ([\d, ]+)", rest):
            for num in re.findall(r"\d+", tables):
                assert re.search(rf"\b{num}\b", row), (template, num, row)
