"""etfflow._common: atomic writes and the progress type."""

from __future__ import annotations

import os
import stat

import pytest

from etfflow._common import atomic_path


def test_atomic_path_replaces_the_file_on_success(tmp_path) -> None:
    out = tmp_path / "sub" / "x.txt"
    with atomic_path(out) as tmp:
        assert tmp.parent == out.parent and tmp.exists() and not out.exists()
        tmp.write_text("new")
    assert out.read_text() == "new"
    assert sorted(p.name for p in out.parent.iterdir()) == ["x.txt"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


def test_atomic_path_keeps_the_old_file_on_failure(tmp_path) -> None:
    out = tmp_path / "x.txt"
    out.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(out) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert out.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_atomic_path_without_create_reserves_only_a_name(tmp_path) -> None:
    out = tmp_path / "x.duckdb"
    with atomic_path(out, create=False) as tmp:
        assert not tmp.exists()
        tmp.write_bytes(b"db")
    assert out.read_bytes() == b"db"
