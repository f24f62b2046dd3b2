"""Small helpers every layer may use: the progress-callback type and atomic file writes."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

#: ``progress(stage, done, total)``: called by long library calls (look-through chunks,
#: factors, evaluation, generation); the CLI draws it as a progress bar.
Progress = Callable[[str, int, int], None]


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, create: bool = True) -> Iterator[Path]:
    """A temporary path beside ``path`` that replaces ``path`` when the block succeeds.

    The caller writes the whole file to the yielded path; on leaving the block it is renamed
    over ``path`` in one step (``os.replace``, atomic on one file system), so a reader never
    sees a half-written file. On any exception (or a kill) ``path`` is left as it was and the
    temporary file is removed. Missing parent folders are created.

    Parameters
    ----------
    path
        The file to write.
    create
        True: the temporary file exists (empty) when the block starts, created with the
        default permissions; False: only its name is reserved (for writers, such as DuckDB,
        that refuse an existing file).
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")
    if create:
        with open(tmp, "x"):  # "x": a fresh file with the default permissions (umask)
            pass
    try:
        yield tmp
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary folder beside ``path`` that replaces ``path`` (as a whole) on success.

    The caller writes every file into the yielded folder; on leaving the block an existing
    ``path`` is moved aside, the new folder renamed to ``path`` and the old one deleted, so
    ``path`` is either the complete old set or the complete new set, never a mix. On any
    exception ``path`` is left as it was and the temporary folder is removed.
    """
    import shutil

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}.{uuid.uuid4().hex[:12]}"
    tmp = out.with_name(f".{out.name}.{tag}.tmp")
    old = out.with_name(f".{out.name}.{tag}.old")
    tmp.mkdir()
    try:
        yield tmp
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
