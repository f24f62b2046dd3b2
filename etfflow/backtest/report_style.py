"""Style sheet and script of the HTML report (:mod:`etfflow.backtest.report`).

The colours of the page (brand, positive, negative) come from :data:`etfflow.plots.COLORS`,
the one colour table of the figures and the report. Printing shows every factor: the print
rules lay out each section open, one per page, and the ``beforeprint`` handler opens every
collapsed ``<details>`` (``afterprint`` closes them again), for browsers that keep the content
of a closed ``<details>`` out of the print.
"""

from __future__ import annotations

import html

from etfflow.plots.style import COLORS

_ROOT = (
    ":root{--ink:#1d2433;--muted:#6b7280;--line:#dde2ea;"
    f"--brand:{COLORS['long_short']};--pos:{COLORS['pos']};--neg:{COLORS['neg']}}}"
)

CSS = (
    _ROOT
    + """
*{box-sizing:border-box}
body{margin:0;background:#eef1f5;color:var(--ink);font:13px/1.45 "Helvetica Neue",Arial,
"PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC","Source Han Sans SC",
"WenQuanYi Micro Hei",sans-serif;-webkit-font-smoothing:antialiased}
.page{max-width:1340px;margin:0 auto;padding:18px 16px 28px}
header{background:var(--brand);color:#fff;border-radius:6px;padding:18px 22px 14px}
header h1{margin:0 0 10px;font-size:22px;font-weight:600;letter-spacing:.2px}
.meta{display:flex;flex-wrap:wrap;gap:6px 8px;margin:0;padding:0}
.meta div{background:rgba(255,255,255,.1);border-radius:3px;padding:2px 8px;font-size:12px}
.meta dt{display:inline;color:#b9c6dc;margin-right:5px}.meta dd{display:inline;margin:0}
.gen{color:#b9c6dc;font-size:11.5px;margin-top:10px}
section.card{background:#fff;border:1px solid var(--line);border-radius:6px;padding:14px 18px;
margin-top:14px}
h2{font-size:15px;margin:0 0 10px;padding-left:9px;border-left:4px solid var(--brand);
color:var(--brand)}
h2 small,h3 small{font-weight:400;color:var(--muted);font-size:12px;margin-left:6px}
.note{color:var(--muted);font-size:11.5px;margin:8px 0 0}
.wrap{overflow-x:auto}
table.t{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
table.t th{background:#f2f5f9;color:var(--brand);font-weight:600;padding:6px 8px;
text-align:right;vertical-align:bottom;border-bottom:2px solid var(--brand);white-space:nowrap}
table.t th small{display:block;font-weight:400;color:var(--muted);font-size:10.5px}
table.t td{padding:4px 8px;text-align:right;border-bottom:1px solid #edf0f4;white-space:nowrap}
table.t .name{text-align:left}
table.t td.name small{color:var(--muted);font-size:10.5px;margin-left:6px}
table.t tbody tr:hover td{background:#f7f9fc}
table.t td.whole,table.t th.whole{border-left:1px solid var(--line);font-weight:600}
table.t tr.whole td{border-top:1.5px solid var(--brand);font-weight:600;background:#f8fafc}
a{color:var(--brand);text-decoration:none}a:hover{text-decoration:underline}
.pos{color:var(--pos)}.neg{color:var(--neg)}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:14px 22px}
.grid2 h3{font-size:13px;margin:0 0 6px;color:var(--ink)}
.bar{display:flex;justify-content:space-between;align-items:center;margin:18px 0 4px}
.bar h2{margin:0}
button{font:inherit;font-size:12px;border:1px solid var(--line);background:#fff;color:var(--brand);
border-radius:4px;padding:3px 10px;margin-left:6px;cursor:pointer}
details.factor{background:#fff;border:1px solid var(--line);border-radius:6px;margin-top:8px}
details.factor>summary{cursor:pointer;padding:9px 16px;display:flex;gap:18px;align-items:baseline;
list-style:none}
details.factor>summary::-webkit-details-marker{display:none}
details.factor>summary:before{content:"▸";color:var(--brand);width:10px}
details.factor[open]>summary:before{content:"▾"}
details.factor[open]>summary{border-bottom:1px solid var(--line)}
.fname{font-weight:600;font-size:14px;color:var(--brand);width:330px;overflow:hidden;
text-overflow:ellipsis;white-space:nowrap}
.kpi{color:var(--muted);font-size:12px;display:grid;grid-template-columns:130px 160px 140px 70px;
gap:14px}.kpi b{font-weight:600}
.body{padding:12px 16px 16px}
.charts2{display:grid;grid-template-columns:1fr 1fr;gap:16px;margin-top:8px}
.chart svg{display:block;width:100%;height:auto}
.chart svg text{font-family:inherit}
.yearly,.stats{margin-top:12px}
.stats{width:auto!important}
@media print{
body{background:#fff}
.page{max-width:none;padding:0}
.bar button{display:none}
details.factor{border:0;margin-top:16px}
details.factor>summary:before{content:""}
details.factor::details-content{content-visibility:visible;display:contents}
details.factor>.body{display:block}
.chart,section.card,header,table.t tr{break-inside:avoid}
details.factor{break-before:page}
}
footer{color:var(--muted);font-size:11.5px;margin-top:16px;line-height:1.6}
"""
)

JS = """
function openHash(){var h=location.hash.slice(1),e=h&&document.getElementById(h);
if(e&&e.tagName==='DETAILS'){e.open=true;e.scrollIntoView();}}
function setAll(v){document.querySelectorAll('details.factor').forEach(function(d){d.open=v;});}
window.addEventListener('hashchange',openHash);
window.addEventListener('load',openHash);
var printOpened=[];
window.addEventListener('beforeprint',function(){document.querySelectorAll(
'details.factor:not([open])').forEach(function(d){d.open=true;printOpened.push(d);});});
window.addEventListener('afterprint',function(){printOpened.forEach(function(d){d.open=false;});
printOpened=[];});
"""


def page_start(
    title: str, meta_html: str, when: str, *, css: str = "", header_extra: str = ""
) -> str:
    """The opening of an etfflow HTML page, through its header: doctype, head (the style
    sheet :data:`CSS` plus ``css``), title, the run metadata ``meta_html`` (``<dt>/<dd>``
    pairs) and the generation time; ``header_extra`` (e.g. a table of contents) ends the header.
    """
    t = html.escape(title)
    gen = f'<div class="gen">生成时间 generated {html.escape(when)} · etfflow</div>'
    lines = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="generator" content="etfflow">',
        f"<title>{t}</title><style>{CSS}{css}</style></head><body>",
        '<div class="page"><header>',
        f"<h1>{t}</h1><dl class='meta'>{meta_html}</dl>",
    ]
    lines += [gen, f"{header_extra}</header>"] if header_extra else [f"{gen}</header>"]
    return "\n".join(lines)
