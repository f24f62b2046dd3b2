"""Figure of the ``passive_beta`` cross-section (:mod:`etfflow.factors.beta_profile`; Huaan
2024-12 table 55): :func:`beta_histogram`, the number of stocks per beta bin, with the mean
beta and the mean R² of the regressions in the title. Labels are bilingual when a CJK font is
installed, English otherwise."""

from __future__ import annotations

from matplotlib.figure import Figure

from etfflow.factors.beta_profile import BetaProfile
from etfflow.plots.style import COLORS, Style, apply_font, empty, grid, new_figure

__all__ = ["beta_histogram"]


def beta_histogram(profile: BetaProfile, style: Style, *, bins: int = 30) -> Figure:
    fig = new_figure(style, (11.0, 3.6), layout="constrained")
    ax = fig.add_subplot()
    h = profile.histogram(bins)
    s = profile.summary
    if h.height == 0 or s["n_stocks"] == 0:
        empty(ax, style)
    else:
        lo, hi, n = h["lo"].to_numpy(), h["hi"].to_numpy(), h["n"].to_numpy()
        ax.bar(lo, n, width=hi - lo, align="edge", color=COLORS["long_short"], edgecolor="white")
        ax.axvline(0.0, color=COLORS["benchmark"], linewidth=0.8)
        ax.set_xlabel(style.label("被动资金 Beta", "passive beta"))
        ax.set_ylabel(style.label("股票数", "stocks"))
        grid(ax)
    mean = s.get("mean_beta")
    r2 = s.get("mean_r2")
    info = (
        f"mean {mean:.2f}, R² {r2:.2f}" if isinstance(mean, float) and isinstance(r2, float) else ""
    )
    ax.set_title(
        style.label(
            f"passive_beta_{profile.window} 股票数分布 ({profile.date}) {info}",
            f"passive_beta_{profile.window} across stocks ({profile.date}) {info}",
        ),
        loc="left",
        fontsize=10,
    )
    apply_font(fig, style)
    return fig
