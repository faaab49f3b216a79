"""Idle timer of the voice job: leaves only after a full timeout without a human."""

from __future__ import annotations

import asyncio

import pytest

from services.agent.presence import IdleTimer

pytestmark = pytest.mark.unit


async def _wait(condition, timeout: float = 2.0) -> None:
    end = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < end, "condition not reached"
        await asyncio.sleep(0.01)


def test_fires_when_nobody_comes_back() -> None:
    async def run() -> int:
        fired: list[int] = []
        timer = IdleTimer(0.05, lambda: False, lambda: fired.append(1))
        timer.arm()
        timer.arm()  # arming twice keeps one countdown
        await _wait(lambda: not timer.armed)
        return len(fired)

    assert asyncio.run(run()) == 1


def test_disarm_cancels() -> None:
    async def run() -> tuple[list[int], IdleTimer]:
        fired: list[int] = []
        timer = IdleTimer(0.05, lambda: False, lambda: fired.append(1))
        timer.arm()
        timer.disarm()
        probe = IdleTimer(0.1, lambda: False, lambda: None)  # a longer clock to wait on
        probe.arm()
        await _wait(lambda: not probe.armed)
        return fired, timer

    fired, timer = asyncio.run(run())
    assert fired == [] and not timer.armed


def test_human_present_at_the_deadline_keeps_the_agent() -> None:
    async def run() -> list[int]:
        fired: list[int] = []
        timer = IdleTimer(0.05, lambda: True, lambda: fired.append(1))
        timer.arm()
        await _wait(lambda: not timer.armed)
        return fired

    assert asyncio.run(run()) == []


def _humans(spec: str) -> list:
    """'a b+' -> a without a microphone, b with one (join order)."""
    from services.agent.presence import HumanView

    return [HumanView(name.rstrip("+"), name.endswith("+")) for name in spec.split()]


@pytest.mark.parametrize(
    ("linked", "humans", "target"),
    [
        (None, "", None),
        (None, "a", "a"),
        ("a", "a", None),
        ("a", "a b", None),  # a second person does not steal the session
        ("a", "a+ b+", None),  # ... not even once both are heard
        ("a", "b", "b"),  # reconnect under a new identity, the leave not seen yet or already seen
        ("a", "b c", "c"),  # the newest
        ("a", "", None),
        # The agent still lists a participant who already left (no microphone), and the human who came
        # back is heard: follow the microphone, whatever the join order.
        ("a", "a b+", "b"),
        ("a", "b+ a", "b"),
        (None, "a b+ c", "b"),
        ("b", "a+ b+", None),
    ],
)
def test_choose_link(linked: str | None, humans: str, target: str | None) -> None:
    from services.agent.presence import choose_link

    assert choose_link(linked, _humans(humans)) == target


def test_the_countdown_is_a_named_task() -> None:
    """A task dump of a job that lingers shows the idle countdown by name."""

    async def run() -> set[str]:
        timer = IdleTimer(10.0, lambda: False, lambda: None)
        timer.arm()
        names = {t.get_name() for t in asyncio.all_tasks()}
        timer.disarm()
        return names

    assert "idle_countdown" in asyncio.run(run())
