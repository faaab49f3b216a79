"""Property-based fuzzing of the whole API from its own OpenAPI document: no input gives a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from tests.unit.test_web_fakes import build

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
