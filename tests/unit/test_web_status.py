"""The operator's status page: admins only, what it collects from each source, and what it leaves out."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp.test_utils import make_mocked_request
from livekit import api

from services.recovery.actions import STATUS_IDENTITY, may_see_names, recent_actions, status_token
from services.recovery.policy import Action, ActionKind, Rule
from services.recovery.sweeper import Outcome
from services.shared.livekit import HEARTBEAT_ATTRIBUTE, LETTA_AGENT_ATTRIBUTE, WORKER_ATTRIBUTE
from services.shared.settings import LLMProvider
from services.web.blueprints import status as status_bp
from services.web.policy import ParticipantSnapshot, RoomSnapshot
from services.web.status.model import model_info
from services.web.status.prom import bucket_quantile, stage_latency
from services.web.status.recovery import RecoveryActions
from services.web.status.services import ServiceHealth
from services.web.status.sessions import session_rows
from services.web.status.workers import WorkerLatency, metrics_urls
from tests.unit.test_web_auth import BOB, OWNER, client_as, store_of
from tests.unit.test_web_fakes import AGENT_ID, LIVEKIT_SECRET, Harness, build

pytestmark = pytest.mark.unit

WORKER_METRICS = """\
# HELP lvs_agent_turn_stage_seconds Per-turn latency by stage.
# TYPE lvs_agent_turn_stage_seconds histogram
lvs_agent_turn_stage_seconds_bucket{le="0.5",stage="stt"} 1.0
lvs_agent_turn_stage_seconds_bucket{le="1.0",stage="stt"} 3.0
lvs_agent_turn_stage_seconds_bucket{le="+Inf",stage="stt"} 4.0
lvs_agent_turn_stage_seconds_count{stage="stt"} 4.0
lvs_agent_turn_stage_seconds_sum{stage="stt"} 3.2
"""


@pytest.fixture
def h(monkeypatch: pytest.MonkeyPatch) -> Harness:
    harness = build(auth="on", sessions_per_minute=100)
    store_of(harness).add_user(*OWNER, admin=True)
    store_of(harness).add_user(*BOB)
    monkeypatch.setattr(
        status_bp, "service_health", lambda s: [ServiceHealth("letta", True, "http://x", "RUNNING", 42)]
    )
    monkeypatch.setattr(
        status_bp, "worker_latency", lambda s: [WorkerLatency("agent", True, stage_latency(WORKER_METRICS))]
    )
    monkeypatch.setattr(status_bp, "recovery_actions", lambda s: RecoveryActions(True, []))
    return harness


def test_status_data_is_for_admins_only(h: Harness) -> None:
    with h.app.test_client() as anonymous:
        assert anonymous.get("/api/status").status_code == 401
        assert anonymous.get("/status").status_code == 200  # the shell: no data, it says what to do
    r = client_as(h, BOB).get("/api/status")
    assert r.status_code == 403 and r.get_json() == {"error": "the status page is for admins", "field": "user"}


def test_an_admin_sees_services_sessions_latency_and_model(h: Harness) -> None:
    agent = ParticipantSnapshot(
        "agent-letta-x",
        True,
        ((LETTA_AGENT_ATTRIBUTE, AGENT_ID), ("lk.agent.state", "speaking"), (WORKER_ATTRIBUTE, "agent-2")),
    )
    h.livekit.rooms["lvs-0123456789abcdef"] = RoomSnapshot(
        "lvs-0123456789abcdef",
        AGENT_ID,
        True,
        int(time.time() * 1000) - 5000,
        (agent, ParticipantSnapshot("ann-1", False)),
        user="bob",
    )
    h.livekit.rooms["other-room"] = RoomSnapshot("other-room", "", False, 0)
    r = client_as(h, OWNER).get("/api/status")
    assert r.status_code == 200
    body = r.get_json()
    assert body["services"] == [
        {"name": "letta", "healthy": True, "target": "http://x", "state": "RUNNING", "uptime_s": 42}
    ]
    (row,) = body["sessions"]["rows"]
    assert row["room"] == "lvs-0123456789abcdef" and row["user"] == "bob" and row["letta_agent_id"] == AGENT_ID
    assert row["agent"]["state"] == "speaking" and row["agent"]["worker"] == "agent-2"
    assert row["humans"] == ["ann-1"] and 4 <= row["age_s"] < 60
    assert body["workers"][0]["stages"]["stt"]["count"] == 4
    assert body["model"]["provider"] in ("local", "openai")
    assert LIVEKIT_SECRET not in r.get_data(as_text=True)


def test_livekit_down_still_answers_with_the_other_sources(h: Harness) -> None:
    h.livekit.down = True
    body = client_as(h, OWNER).get("/api/status").get_json()
    assert body["sessions"] == {"ok": False, "error": "LiveKit is not available", "rows": []}
    assert body["services"][0]["name"] == "letta"


def test_stage_latency_from_worker_metrics() -> None:
    stages = stage_latency(WORKER_METRICS + WORKER_METRICS.split("\n", 2)[2])  # two workers' samples summed
    stt = stages["stt"]
    assert stt.count == 8 and stt.sum_s == pytest.approx(6.4) and stt.mean_s == pytest.approx(0.8)
    assert stt.p50_s == pytest.approx(0.75)  # rank 4 of 8: halfway through the 0.5-1.0 bucket
    assert stt.p95_s == pytest.approx(1.0)  # in +Inf: the last finite bound
    assert stages["total"].count == 0 and stages["total"].mean_s is None
    assert list(stages)[:5] == ["eou", "stt", "llm_ttft", "tts_ttfb", "total"]


def test_bucket_quantile_edges() -> None:
    assert bucket_quantile([], 0.5) is None
    assert bucket_quantile([(1.0, 0.0), (float("inf"), 0.0)], 0.5) is None
    assert bucket_quantile([(0.1, 10.0), (0.2, 10.0), (float("inf"), 10.0)], 0.5) == pytest.approx(0.05)


def _action(room: str = "lvs-0123456789abcdef", identity: str | None = "ann-1") -> Action:
    rule = Rule.INACTIVE_PARTICIPANT
    return Action(ActionKind.REMOVE_PARTICIPANT, rule, room, identity, reason=f"{identity} is gone")


def test_recovery_actions_of_the_last_hour_without_names_unless_allowed() -> None:
    now = 10_000.0
    recent = [
        (now - 4000, _action(), Outcome.DONE),
        (now - 60, _action(), Outcome.DONE),
        (now - 5, _action(), Outcome.DONE),
    ]
    rows = recent_actions(recent, now, names=False)
    assert [r["at"] for r in rows] == [now - 5, now - 60]  # newest first, the older than an hour left out
    assert all(set(r) == {"at", "rule", "action", "outcome"} for r in rows)
    assert "lvs-0123" not in repr(rows) and "ann-1" not in repr(rows)
    named = recent_actions(recent, now, names=True)
    assert named[0]["room"] == "lvs-0123456789abcdef" and named[0]["identity"] == "ann-1"


def test_names_only_for_the_status_token_of_this_stack() -> None:
    verifier = api.TokenVerifier("testkey", LIVEKIT_SECRET)
    assert may_see_names(f"Bearer {status_token('testkey', LIVEKIT_SECRET)}", verifier)
    assert not may_see_names("", verifier)
    assert not may_see_names(f"Bearer {status_token('testkey', 'another-secret-' + 'x' * 20)}", verifier)
    user_token = api.AccessToken("testkey", LIVEKIT_SECRET).with_identity("ann-1").to_jwt()
    assert not may_see_names(f"Bearer {user_token}", verifier)
    assert STATUS_IDENTITY not in ("", "ann-1")


def test_sidecar_actions_endpoint_hides_names_from_anonymous_callers() -> None:
    asyncio.run(_sidecar_actions())


async def _sidecar_actions() -> None:
    from services.recovery.actions import actions_handler

    class _Sweeper:
        def __init__(self) -> None:
            self.recent = [(time.time(), _action(), Outcome.DONE)]

    view = actions_handler(_Sweeper(), api.TokenVerifier("testkey", LIVEKIT_SECRET))  # type: ignore[arg-type]
    plain = await view(make_mocked_request("GET", "/actions"))
    assert b"lvs-0123" not in plain.body and b'"names": false' in plain.body  # type: ignore[operator]
    token = status_token("testkey", LIVEKIT_SECRET)
    named = await view(make_mocked_request("GET", "/actions", headers={"Authorization": f"Bearer {token}"}))
    assert b"lvs-0123456789abcdef" in named.body  # type: ignore[operator]


def test_session_rows_name_the_agent_worker_and_heartbeat() -> None:
    now = 1000.0
    agent = ParticipantSnapshot("agent-letta-r", True, ((HEARTBEAT_ATTRIBUTE, "998.5"), (WORKER_ATTRIBUTE, "agent")))
    rows = session_rows([RoomSnapshot("lvs-a", AGENT_ID, True, 900_000, (agent,), user="")], "agent-letta", now)
    assert rows[0]["agent"]["heartbeat_age_s"] == 1.5 and rows[0]["agent"]["worker"] == "agent"  # type: ignore[index]
    assert rows[0]["user"] is None and rows[0]["humans"] == [] and rows[0]["age_s"] == 100.0
    (empty,) = session_rows([RoomSnapshot("lvs-b", AGENT_ID, True, 0)], "agent-letta", now)
    assert empty["agent"] is None


def test_worker_metrics_ports_follow_the_instances() -> None:
    settings = build().settings
    settings = settings.model_copy(
        update={"agent": settings.agent.model_copy(update={"workers": 2, "metrics_port": 9101})}
    )
    assert list(metrics_urls(settings).values()) == ["http://127.0.0.1:9101/metrics", "http://127.0.0.1:9201/metrics"]


def test_model_info_says_what_the_model_cannot_do() -> None:
    settings = build().settings
    local = settings.model_copy(
        update={"llm": settings.llm.model_copy(update={"provider": LLMProvider.LOCAL, "gguf_path": None})}
    )
    info = model_info(local)
    assert info["local"] is True and any("memory" in c for c in info["cannot"])  # type: ignore[union-attr]
    assert "key" not in repr(info).lower()
