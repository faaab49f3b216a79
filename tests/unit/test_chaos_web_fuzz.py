"""The web fuzz's request building and answer checks (tests/chaos/web_fuzz.py), without a service."""

from __future__ import annotations

import random

import pytest

from tests.chaos.web_fuzz import MAX_BODY, MUTATIONS, FuzzRequest, answer_problems, from_case, fuzz_plan, huge_body

pytestmark = pytest.mark.unit
JSON = (("Content-Type", "application/json"),)
SECRET = b"s3cr3t-value-long-enough"


def test_from_case_keeps_query_body_and_headers() -> None:
    request = from_case(
        {
            "method": "post",
            "url": "http://fuzz.invalid/api/sessions?a=1",
            "params": {"b": ["2", "3"]},
            "headers": {
                "Content-Type": "application/json",
                "Connection": "keep-alive",
                "X-Schemathesis-TestCaseId": "x",
            },
            "json": {"agent_id": "a"},
        },
        creates_agent=True,
    )
    assert request == FuzzRequest("POST", "/api/sessions?a=1&b=2&b=3", JSON, b'{"agent_id": "a"}', "openapi", True)
    assert from_case({"method": "POST", "url": "http://x/api/agents", "data": "\x00"}).body == b"\x00"


@pytest.mark.parametrize(
    ("request_", "status", "headers", "body", "expected"),
    [
        (FuzzRequest("GET", "/api/x"), 404, [], b'{"error": "not found"}', []),
        (FuzzRequest("GET", "/api/x"), 500, [], b'{"error": "internal error"}', ["answered 500"]),
        (FuzzRequest("GET", "/api/x"), 502, [], b"<html>", ["answered 502"]),
        (FuzzRequest("GET", "//API/x"), 404, [], b"<html>", ["404 without a JSON error: b'<html>'"]),
        (FuzzRequest("GET", "/api/x"), 400, [], b'{"error": 3}', ["400 without a JSON error: b'{\"error\": 3}'"]),
        (FuzzRequest("GET", "/api/x"), 400, [], b'["error"]', ["400 without a JSON error: b'[\"error\"]'"]),
        (FuzzRequest("GET", "/static/x"), 404, [], b"<html>", []),
        (FuzzRequest("HEAD", "/api/x"), 405, [], b"", []),
        (FuzzRequest("GET", "/api/" + "a" * 5000), 414, [], b"<html>URI Too Long", []),
        (FuzzRequest("GET", "/api/config"), 200, [("X-Leak", SECRET.decode())], b"{}", ["SECRET in the answer"]),
        (FuzzRequest("GET", "/api/config"), 200, [], b'{"k": "' + SECRET + b'"}', ["SECRET in the answer"]),
    ],
)
def test_answer_problems(
    request_: FuzzRequest, status: int, headers: list[tuple[str, str]], body: bytes, expected: list[str]
) -> None:
    assert answer_problems(request_, status, headers, body, {"SECRET": SECRET}) == expected


def test_fuzz_plan_sends_every_generated_request_then_mutations() -> None:
    generated = [
        FuzzRequest("POST", "/api/sessions", JSON, b'{"agent_id": "a"}'),
        FuzzRequest("POST", "/api/agents", JSON, b'{"name": "n", "persona": "p", "human": "h"}', creates_agent=True),
        FuzzRequest("DELETE", "/api/sessions/lvs-0123456789abcdef"),
    ]
    plan = fuzz_plan(generated, 500, random.Random(1))
    assert len(plan) == 500
    assert all(plan.count(r) >= 1 for r in generated)
    mutations = [r for r in plan if r.origin != "openapi"]
    assert len(mutations) == 497
    assert {r.origin for r in mutations} == {m.__name__ for m in MUTATIONS}
    assert not any(r.creates_agent for r in mutations), "a mutation of a valid agent request may make an agent"
    assert all(r.path.startswith("/") and r.method for r in plan)


def test_huge_bodies_are_on_both_sides_of_the_limit() -> None:
    rng = random.Random(2)
    base = FuzzRequest("POST", "/api/sessions", JSON, b'{"agent_id": "a"}')
    sizes = {len(huge_body(base, rng).body or b"") for _ in range(200)}
    assert min(sizes) <= MAX_BODY < max(sizes)
