"""Job-process log records reach the worker as builtins only (services/agent/logctx.py)."""

from __future__ import annotations

import logging
import pickle
from enum import StrEnum

import pytest

from services.agent.logctx import ContextFilter, plain
from services.agent.policy import PState

pytestmark = pytest.mark.unit


class Result(StrEnum):
    FOUND = "found"


class Name(str):
    """A str subclass of some library."""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Result.FOUND, "found"),
        (Name("x"), "x"),
        (3, 3),
        (2.5, 2.5),
        (True, True),
        (None, None),
        ([Result.FOUND, (1, Name("y"))], ["found", [1, "y"]]),
        ({Result.FOUND: Result.FOUND}, {"found": "found"}),
    ],
)
def test_plain_values_are_builtins(value: object, expected: object) -> None:
    out = plain(value)
    assert out == expected and type(out) is type(expected)


def test_a_record_with_our_enums_unpickles_without_importing_our_modules() -> None:
    record = logging.LogRecord("lvs.agent.brain", logging.WARNING, "brain.py", 1, "Letta lookup failed", None, None)
    record.result = Result.FOUND  # an `extra` (logger.warning(..., extra={"result": ...}))
    record.state = PState.ACTIVE
    record.payload = object()
    assert ContextFilter().filter(record)
    data = pickle.dumps(record)
    assert b"tests.unit" not in data and b"services.agent" not in data, "unpickling would import that module"
    back = pickle.loads(data)
    assert (back.result, back.state) == ("found", plain(PState.ACTIVE)) and back.payload.startswith("<object")
    assert back.msg == "Letta lookup failed" and back.levelno == logging.WARNING, "the record's own fields are kept"
