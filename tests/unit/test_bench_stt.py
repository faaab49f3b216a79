"""The STT bench's word error arithmetic."""

from __future__ import annotations

import pytest

from tests.bench.bench_stt import SENTENCES, edit_distance, words

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("ref", "hyp", "dist"),
    [
        ("what is the capital of france", "What is the capital of France?", 0),
        ("what is the capital of france", "What is the capital and friends?", 2),
        ("how many days", "how many may not days", 2),
        ("a b c", "", 3),
        ("", "a", 1),
    ],
)
def test_edit_distance(ref: str, hyp: str, dist: int) -> None:
    assert edit_distance(words(ref), words(hyp)) == dist


def test_the_test_set_has_fifteen_plain_sentences() -> None:
    lines = [s for s in SENTENCES.read_text().splitlines() if s and not s.startswith("#")]
    assert len(lines) == 15 and all(s == s.lower() and s.replace(" ", "").replace("'", "").isalpha() for s in lines)
