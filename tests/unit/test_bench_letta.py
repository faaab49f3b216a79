"""The Letta overhead bench: reading llama.cpp's print_timing lines and splitting a turn's time."""

from __future__ import annotations

import pytest

from tests.bench.bench_letta import ModelTiming, Turn, parse_timings

pytestmark = pytest.mark.unit

# llama.cpp's lines, cut after the token counts (the rest is per-token rates)
LOG = """\
1.13.758.090 I slot launch_slot_: id  0 | task 19 | processing task, is_child = 0
1.14.272.591 I slot print_timing: id  0 | task 19 | prompt eval time =     205.26 ms /    16 tokens (...)
1.14.272.618 I slot print_timing: id  0 | task 19 |        eval time =     309.20 ms /     7 tokens (...)
1.14.272.618 I slot print_timing: id  0 | task 19 |       total time =     514.46 ms /    23 tokens
1.14.272.620 I slot print_timing: id  0 | task 19 |    graphs reused =         17
1.15.000.000 I slot print_timing: id  0 | task 27 | prompt eval time =   14665.69 ms /   377 tokens (...)
"""


def test_parse_timings_keeps_complete_requests_only() -> None:
    # task 27 has no eval line yet (the log was read while llama.cpp wrote it): not a request yet
    expected = ModelTiming(task=19, prompt_ms=205.26, prompt_tokens=16, eval_ms=309.2, eval_tokens=7)
    assert parse_timings(LOG) == [expected]
    assert parse_timings("no timing here\n") == []


def test_two_requests_in_one_turn_are_both_found() -> None:
    second = LOG.replace("task 19", "task 20").replace("205.26", "100.00")
    assert [t.task for t in parse_timings(LOG + second)] == [19, 20]


def test_letta_share_is_the_client_time_minus_the_model() -> None:
    model = ModelTiming(task=1, prompt_ms=300.0, prompt_tokens=15, eval_ms=400.0, eval_tokens=8)
    turn = Turn(ttft_s=0.5, stream_s=1.2, model=model, letta_cpu_s=0.2, postgres_cpu_s=0.01)
    assert model.first_token_s == pytest.approx(0.3)  # the first token comes out of the prompt evaluation
    assert turn.letta_first_s == pytest.approx(0.2)
    # 0.7 s after the first token, of which the model generated for 0.4 s: 0.3 s is Letta's
    assert turn.letta_after_s == pytest.approx(0.3)
