"""Property-based fuzzing of the whole API from its own OpenAPI document: no input gives a 5xx."""

from __future__ import annotations

import time
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig

from services.web.policy import RoomSnapshot
from tests.unit.test_web_fakes import AGENT_ID, OTHER_AGENT_ID, build

pytestmark = pytest.mark.unit

# Fresh app per run; the rate limit is high so the fuzzer reaches the session logic.
_harness = build(sessions_per_minute=100_000)
# A body over the 16 KiB limit is refused as a whole with 413 (documented) before any field is read.
_config = SchemathesisConfig.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": ["400", "403", "404", "409", "413", "415", "429"]}}}
)
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", _harness.app, config=_config)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_answers_5xx(case: schemathesis.Case) -> None:
    # Reset the in-memory upstreams so one case does not make the next a 409.
    _harness.livekit.rooms.clear()
    response = case.call_and_validate()
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])
    # Every error is JSON with a message.
    if response.status_code >= 400 and case.path.startswith("/api"):
        assert isinstance(response.json().get("error"), str)


# Fuzzed session requests, a share of them for a real agent id, against fakes in fuzzed states: every answer is
# below 500 and JSON, and each branch of POST /api/sessions is reached (counted, then asserted reached).
BRANCHES = (
    "created",
    "takeover",
    "unused_cleared",
    "conflict",
    "race_lost",
    "unknown_agent",
    "invalid",
    "upstream_down",
)
STATES = ("fresh", "live", "unused", "rival", "livekit_down", "letta_down")
_valid_body = st.fixed_dictionaries(
    {"agent_id": st.sampled_from([AGENT_ID, AGENT_ID, OTHER_AGENT_ID])},
    optional={"takeover": st.booleans(), "identity": st.from_regex(r"[a-z]{1,12}", fullmatch=True)},
)
_fuzzed_body = st.fixed_dictionaries(
    {"agent_id": st.one_of(st.sampled_from([AGENT_ID, OTHER_AGENT_ID]), st.text(max_size=80))},
    optional={"takeover": st.one_of(st.booleans(), st.text(max_size=5)), "identity": st.text(max_size=20)},
)
_body = st.one_of(_valid_body, _fuzzed_body)  # half of the cases are well-formed, so the session logic is reached


def _prepare(h, state: str) -> None:
    h.livekit.rooms.clear()
    h.livekit.down = state == "livekit_down"
    h.letta.down = state == "letta_down"
    h.livekit.rival_on_open = None
    if state == "live":
        h.livekit.add_room("lvs-00000000000000aa", AGENT_ID, age_s=1, humans=1)
    elif state == "unused":
        h.livekit.add_room("lvs-00000000000000bb", AGENT_ID, age_s=3600)
    elif state == "rival":
        old = int(time.time() * 1000) - 1
        h.livekit.rival_on_open = RoomSnapshot("lvs-00000000000000cc", AGENT_ID, True, old)


def _branch(h, state: str, status: int, deleted_before: int) -> str:
    deleted = h.livekit.deleted[deleted_before:]
    if status == 201:
        if "lvs-00000000000000aa" in deleted:
            return "takeover"
        return "unused_cleared" if "lvs-00000000000000bb" in deleted else "created"
    if status == 409:
        return "race_lost" if state == "rival" else "conflict"
    return {404: "unknown_agent", 400: "invalid", 503: "upstream_down"}.get(status, f"other {status}")


def test_fuzzed_sessions_reach_every_branch_and_never_5xx() -> None:
    h = build(sessions_per_minute=100_000)
    reached: Counter[str] = Counter()
    client = h.app.test_client()

    @given(body=_body, state=st.sampled_from(STATES))
    @settings(max_examples=400, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
    def one(body: dict, state: str) -> None:
        _prepare(h, state)
        before = len(h.livekit.deleted)
        response = client.post("/api/sessions", json=body)
        assert response.status_code < 500 or state.endswith("_down"), (body, state, response.status_code)
        assert response.is_json, (body, state, response.status_code)
        if response.status_code >= 400:
            assert isinstance(response.get_json().get("error"), str)
        reached[_branch(h, state, response.status_code, before)] += 1

    one()
    print(dict(reached))
    assert set(BRANCHES) <= set(reached), f"branches never reached: {set(BRANCHES) - set(reached)}; {dict(reached)}"
    assert not [b for b in reached if b.startswith("other")], dict(reached)
