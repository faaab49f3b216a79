"""The operator CLI's tables and arguments, and the worker health URL setting."""

from __future__ import annotations

import pytest

from services.recovery.__main__ import main
from services.recovery.policy import Action, ActionKind, Rule
from services.recovery.report import actions_table, rooms_table
from services.recovery.snapshot import Kind, ParticipantView, RoomView, Snapshot, State
from services.recovery.sweeper import Outcome, worker_health_urls
from services.shared.settings import AgentSettings, RecoverySettings, Settings

pytestmark = pytest.mark.unit
NOW = 1_000_000.0


def test_rooms_table_lists_each_participant_with_kind_state_and_join_time() -> None:
    ours = RoomView(
        "lvs-a",
        {"lvs": True},
        NOW - 7200,
        2,
        (
            ParticipantView("user", Kind.STANDARD, State.ACTIVE, NOW - 30),
            ParticipantView("agent-letta-a", Kind.AGENT, State.JOINED, NOW - 5, True),
        ),
    )
    foreign = RoomView("meeting", {}, NOW - 60, 3)
    lines = rooms_table(Snapshot((ours, foreign)), RecoverySettings(), NOW).splitlines()
    assert lines[0].split() == ["room", "ours", "participant", "kind", "state", "joined", "/", "created", "(UTC)"]
    assert lines[2].split()[:2] == ["lvs-a", "yes"] and "2.0h ago" in lines[2]
    assert lines[3].split()[:3] == ["user", "standard", "active"] and "30s ago" in lines[3]
    assert lines[4].split()[:4] == ["agent-letta-a", "agent", "(ours)", "joined"]
    assert lines[5].split()[:3] == ["meeting", "no", "3"]


def test_actions_table_names_rule_and_outcome() -> None:
    action = Action(ActionKind.REMOVE_PARTICIPANT, Rule.DUPLICATE_AGENT, "lvs-a", "agent-2", None, "duplicate")
    row = actions_table([(action, Outcome.FAILED)]).splitlines()[2].split()
    assert row[:5] == ["lvs-a", "agent-2", "duplicate_agent", "remove_participant", "failed"]
    assert actions_table([]) == "no actions: nothing to recover"


@pytest.mark.parametrize(
    ("value", "workers", "expected"),
    [
        ("", 1, ["http://127.0.0.1:9101/metrics"]),
        ("", 3, ["http://127.0.0.1:9101/metrics", "http://127.0.0.1:9201/metrics", "http://127.0.0.1:9301/metrics"]),
        ("off", 2, []),
        ("OFF", 1, []),
        ("http://worker:8081/", 2, ["http://worker:8081"]),
    ],
)
def test_worker_health_urls(value: str, workers: int, expected: list[str]) -> None:
    agent = AgentSettings(port=8181, metrics_port=9101, workers=workers)
    settings = Settings(agent=agent, recovery=RecoverySettings(agent_health_url=value))
    assert worker_health_urls(settings) == expected


def test_sweep_needs_once(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["sweep"])
    assert exit_info.value.code == 2
    assert "--once" in capsys.readouterr().err


def test_a_worker_is_ready_only_once_its_metrics_say_registered() -> None:
    from services.recovery.sweeper import says_registered

    assert says_registered('# HELP x\nlvs_agent_worker_registered{worker="agent"} 1.0\n')
    assert not says_registered('lvs_agent_worker_registered{worker="agent"} 0.0\n')
    assert not says_registered("lvs_agent_turns_total 3.0\n"), "a worker that has not registered exports no sample"


@pytest.mark.parametrize(
    ("text", "free"),
    [
        ('lvs_agent_job_slots_free{worker="agent"} 4.0\n', 4),
        ('# HELP lvs_agent_job_slots_free x\nlvs_agent_job_slots_free{worker="agent-2"} 0.0\n', 0),
        ("lvs_agent_turns_total 3.0\n", None),  # an older worker: it does not say
        ('lvs_agent_job_slots_free{worker="agent"} nan-ish\n', None),
        ('lvs_agent_job_slots_free{worker="agent"} NaN\n', None),
    ],
)
def test_a_workers_free_job_slots_come_from_its_metrics(text: str, free: int | None) -> None:
    from services.recovery.sweeper import free_job_slots

    assert free_job_slots(text) == free


@pytest.mark.parametrize(
    ("probes", "free"),
    [
        ([(True, 2), (True, 3)], 5),
        ([(True, 2), (False, None)], 2),  # a dead worker has no slot to offer
        ([(True, 2), (True, None)], None),  # one ready worker does not say: unknown, nothing is held
        ([(False, None), (False, None)], None),  # none ready: re-dispatching waits for the worker anyway
        ([], None),
    ],
)
def test_free_slots_are_summed_over_the_ready_workers(probes: list[tuple[bool, int | None]], free: int | None) -> None:
    from services.recovery.sweeper import slots_free

    assert slots_free(probes) == free
