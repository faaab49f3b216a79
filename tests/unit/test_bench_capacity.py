"""The capacity bench's decisions: when a ramp step meets the p95 goal, when it is lost early, and turn latencies
recovered from the worker's cumulative histogram (the lk client's source)."""

from __future__ import annotations

import pytest

from tests.bench.bench_capacity import Step, bucket_samples
from tests.bench.bench_voice import stage_means

pytestmark = pytest.mark.unit

INF = float("inf")


@pytest.mark.parametrize(
    ("step", "ok", "lost"),
    [
        (Step(1, 3, latencies=[0.8, 1.2, 1.9]), True, False),
        (Step(1, 3, latencies=[0.8, 2.4]), False, True),  # with 3 turns p95 is the slowest one
        (Step(2, 3, latencies=[0.5, 0.6], unanswered=1), False, True),
        (Step(2, 3, latencies=[0.5], errors=["session 2: timed out"]), False, True),
        (Step(1, 3), False, False),  # nothing measured yet: not met, not lost
        (Step(4, 5, latencies=[1.0] * 19 + [6.0]), True, False),  # 1 slow turn in 20 keeps p95 under
        (Step(4, 5, latencies=[1.0] * 18 + [6.0, 7.0]), False, True),
    ],
)
def test_a_step_meets_the_goal_or_is_lost(step: Step, ok: bool, lost: bool) -> None:
    assert step.ok is ok
    assert step.lost() is lost


def test_a_slow_step_that_finishes_slow_plays_on_and_only_a_failure_stops_it() -> None:
    slow = Step(2, 3, latencies=[2.5, 2.6, 2.7], finish_slow=True)
    assert not slow.ok and not slow.lost() and not slow.failed()
    slow.unanswered = 1
    assert slow.lost() and slow.failed()


def test_stage_means_cover_the_turns_between_two_reads() -> None:
    before = {"eou": (1.0, 2.0), "stt": (0.5, 2.0), "total": (4.0, 2.0)}
    after = {"eou": (2.2, 5.0), "stt": (0.5, 2.0), "total": (10.0, 5.0), "llm_ttft": (0.9, 3.0)}
    means = stage_means(before, after)
    assert means == pytest.approx({"eou": 0.4, "total": 2.0, "llm_ttft": 0.3})  # stt had no new turn


def test_histogram_deltas_become_one_sample_per_turn_at_its_bucket_bound() -> None:
    before = {0.5: 1.0, 1.0: 2.0, 2.0: 2.0, 20.0: 3.0, INF: 3.0}
    after = {0.5: 2.0, 1.0: 4.0, 2.0: 5.0, 20.0: 6.0, INF: 8.0}
    assert bucket_samples(before, after) == [0.5, 1.0, 2.0, 20.0, 20.0]


def test_no_new_turns_no_samples() -> None:
    same = {0.5: 1.0, INF: 1.0}
    assert bucket_samples(same, same) == []
    assert bucket_samples({}, {}) == []
