"""No hang stalls CI: every child process a test starts has a timeout (pytest-timeout covers the tests)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
BLOCKING = {"run", "call", "check_call", "check_output"}


def calls_without_timeout(path: Path) -> list[str]:
    """`subprocess.run(...)`-style calls in a file that pass no timeout= (Popen is waited on with one)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        owner = node.func.value
        is_blocking = node.func.attr in BLOCKING and isinstance(owner, ast.Name) and owner.id == "subprocess"
        if is_blocking and not any(kw.arg == "timeout" for kw in node.keywords):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_child_process_of_the_tests_has_a_timeout() -> None:
    missing = [where for path in sorted(TESTS.rglob("*.py")) for where in calls_without_timeout(path)]
    assert missing == [], "subprocess calls without timeout= (a hang would stall CI): " + ", ".join(missing)


def test_pytest_timeout_is_configured() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert "pytest-timeout==" in text and "\ntimeout = " in text
