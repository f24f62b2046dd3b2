"""Replace entries of a dataset folder from a staging folder, all or nothing."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

__all__ = ["swap_in"]


def swap_in(staging: Path, out: Path, names: Sequence[str], remove: Sequence[str] = ()) -> None:
    """Move ``staging/<name>`` over ``out/<name>`` for each name, move each ``out/<remove>``
    away; undo all on a failure.

    A name may be nested (``etf_pcf/year=2024``; its parent must exist in ``out``). Each move
    is one ``os.replace`` (the old entry is first renamed aside into ``staging/.old``), so a
    reader sees either the old or the new entry, and a failure in the middle puts every old
    one back. What was moved aside is deleted with ``staging``.
    """
    aside = staging / ".old"
    aside.mkdir()
    done: list[tuple[str, bool, bool]] = []  # (name, had an old one, new one in place)
    try:
        for n in [*names, *remove]:
            had = (out / n).exists()
            if had:
                (aside / n).parent.mkdir(parents=True, exist_ok=True)
                os.replace(out / n, aside / n)
            done.append((n, had, False))
            if n in remove:
                continue
            os.replace(staging / n, out / n)
            done[-1] = (n, had, True)
    except BaseException:
        for n, had, placed in reversed(done):
            if placed:
                shutil.rmtree(out / n) if (out / n).is_dir() else (out / n).unlink()
            if had:
                os.replace(aside / n, out / n)
        raise
