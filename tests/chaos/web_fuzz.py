"""Requests to fuzz the running web service with: cases schemathesis generates from the service's own OpenAPI
document, and mutations of them (malformed and huge bodies, wrong content types, odd paths, methods and origins).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar
from urllib.parse import urlencode, urlsplit

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import Unsatisfiable
from hypothesis.strategies import SearchStrategy
from schemathesis import GenerationMode

T = TypeVar("T")
MAX_BODY = 16 * 1024  # the service's limit (services/web/app.py): larger bodies are a 413
# gunicorn answers requests over its own limits itself, in HTML, before the app sees them.
GUNICORN_MAX_REQUEST_LINE = 4094
ODD_METHODS = ("PUT", "PATCH", "TRACE", "OPTIONS", "HEAD", "PROPFIND", "FOO", "GET", "POST", "DELETE")
WRONG_TYPES = (
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/xml",
    "application/json; charset=utf-16",
    "application/jsonx",
    "*/*",
)
ODD_ORIGINS = ("http://evil.example", "null", "http://127.0.0.1:1", "file://", "http://[::1]")


@dataclass(frozen=True)
class FuzzRequest:
    """One request: path with query, relative to the service's base URL."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    origin: str = "openapi"  # what made it: "openapi", or the name of the mutation
    creates_agent: bool = False  # a valid POST /api/agents: it makes a real Letta agent

    @property
    def beyond_gunicorn_limits(self) -> bool:
        return len(self.method) + len(self.path) + 10 > GUNICORN_MAX_REQUEST_LINE

    def with_header(self, name: str, value: str) -> FuzzRequest:
        kept = tuple((k, v) for k, v in self.headers if k.lower() != name.lower())
        return replace(self, headers=(*kept, (name, value)))


def from_case(kwargs: dict[str, object], creates_agent: bool = False) -> FuzzRequest:
    """A FuzzRequest from schemathesis' `Case.as_transport_kwargs()`."""
    url = urlsplit(str(kwargs["url"]))
    query = urlencode(kwargs.get("params") or {}, doseq=True)  # type: ignore[arg-type]
    path = url.path + (f"?{url.query}" if url.query else "") + (("&" if url.query else "?") + query if query else "")
    data = kwargs.get("data")
    if "json" in kwargs:
        body: bytes | None = json.dumps(kwargs["json"]).encode()
    elif isinstance(data, bytes | str):
        body = data if isinstance(data, bytes) else data.encode()
    else:
        body = None if data is None else json.dumps(data).encode()
    skip = {"connection", "x-schemathesis-testcaseid"}
    raw_headers = kwargs.get("headers") or {}
    headers = tuple((str(k), str(v)) for k, v in raw_headers.items() if k.lower() not in skip)  # type: ignore[union-attr]
    return FuzzRequest(str(kwargs["method"]).upper(), path, headers, body, "openapi", creates_agent)


def draw(strategy: SearchStrategy[T], count: int, seed: int) -> list[T]:
    """Up to `count` examples of a strategy (fewer when it has fewer), reproducible from `seed`."""
    out: list[T] = []

    @hypothesis_seed(seed)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(example: T) -> None:
        out.append(example)

    try:
        collect()
    except Unsatisfiable:  # e.g. invalid input of an operation without parameters or body: there is none
        return []
    return out


def openapi_requests(schema_url: str, per_strategy: int, seed: int, agents_cap: int) -> list[FuzzRequest]:
    """Distinct cases of every operation, valid and invalid; at most `agents_cap` that create a Letta agent."""
    schema = schemathesis.openapi.from_url(schema_url)
    found: dict[FuzzRequest, None] = {}
    agents = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            creates = operation.method.upper() == "POST" and operation.path == "/api/agents" and mode.is_positive
            for case in draw(operation.as_strategy(generation_mode=mode), per_strategy, seed):
                request = from_case(case.as_transport_kwargs(base_url="http://fuzz.invalid"), creates)
                if request in found or (creates and agents >= agents_cap):
                    continue
                agents += creates
                found[request] = None
    return list(found)


# Mutations: each makes an invalid (or at least odd) request from a generated one; none makes a valid
# POST /api/agents out of an invalid one, except by a fluke of byte corruption (the sender deletes any agent made).
def wrong_content_type(r: FuzzRequest, rng: random.Random) -> FuzzRequest:
    return r.with_header("Content-Type", rng.choice(WRONG_TYPES))


def no_content_type(r: FuzzRequest, rng: random.Random) -> FuzzRequest:
    kept = tuple((k, v) for k, v in r.headers if k.lower() != "content-type")
    return replace(r, headers=kept, body=r.body or b'{"agent_id": "x"}')


def truncated(r: FuzzRequest, rng: random.Random) -> FuzzRequest:
    body = r.body or b'{"agent_id": "agent-x"}'
    return replace(r, body=body[: rng.randrange(len(body))] if len(body) > 1 else b"{")


def corrupted(r: FuzzRequest, rng: random.Random) -> FuzzRequest:
    body = bytearray(r.body or b"{}")
    for _ in range(rng.randint(1, 4)):
        body[rng.randrange(len(body))] = rng.choice(b'\x00\xff\xfe\xc3"{}[]\\,:')
    return replace(r, body=bytes(body))


def deeply_nested(r: FuzzRequest, rng: random.Random) -> FuzzRequest:
    depth = rng.choice((2, 100, 1_000, 5_000, 8_000))
    closed = rng.random() < 0.5
    return replace(r, body=b"[" * depth + (r.body or b"{}") + (b"]" * depth if closed else b""))


def huge_body(r: FuzzRequest, rng: random.Random) -> FuzzRequest:
    size = rng.choice((MAX_BODY - 64, MAX_BODY + 1, 100_000, 1_000_000))
    fill = rng.choice((b" ", b"a", b"\xff"))
    return replace(r, body=b'{"agent_id": "' + fill * size + b'"}')


def cross_origin(r: FuzzRequest, rng: random.Random) -> FuzzRequest:
    return r.with_header("Origin", rng.choice(ODD_ORIGINS))


def odd_method(r: FuzzRequest, rng: random.Random) -> FuzzRequest:
    return replace(r, method=rng.choice(ODD_METHODS), creates_agent=False)


def odd_path(r: FuzzRequest, rng: random.Random) -> FuzzRequest:
    path = r.path.split("?", 1)[0]
    variants = (
        path + "/",
        path.replace("/", "//", 1),
        path + "/..",
        path + "/../../etc/passwd",
        path + "/%2e%2e%2f%2e%2e",
        path + "/%00",
        path + "/%ff%fe",
        path.upper(),
        path + "/" + "a" * rng.choice((200, 3_000)),
        path + "/" + "b" * 5_000,  # over gunicorn's request line limit
        "/api/sessions/lvs-" + "0" * rng.choice((15, 17)),
        "/api/sessions/%E2%80%AElvs-0123456789abcdef",
        path + ";x=1",
        "/api/" + "é" * 20,
    )
    return replace(r, path=rng.choice(variants), creates_agent=False)


def odd_query(r: FuzzRequest, rng: random.Random) -> FuzzRequest:
    query = rng.choice(("?%ff=%00", "?a=1&a=2&a=" + "x" * 1000, "?takeover=true", "?" + "&" * 500, "?=", "?%"))
    return replace(r, path=r.path.split("?", 1)[0] + query)


MUTATIONS: tuple[Callable[[FuzzRequest, random.Random], FuzzRequest], ...] = (
    wrong_content_type,
    no_content_type,
    truncated,
    corrupted,
    deeply_nested,
    huge_body,
    cross_origin,
    odd_method,
    odd_path,
    odd_query,
)


def mutated(base: list[FuzzRequest], count: int, rng: random.Random) -> list[FuzzRequest]:
    """`count` mutations of requests drawn from `base` (never of one that creates an agent)."""
    pool = [r for r in base if not r.creates_agent]
    out = []
    for _ in range(count):
        mutation = rng.choice(MUTATIONS)
        out.append(replace(mutation(rng.choice(pool), rng), origin=mutation.__name__))
    return out


def fuzz_plan(generated: list[FuzzRequest], total: int, rng: random.Random) -> list[FuzzRequest]:
    """Every generated request once (as many as fit), then mutations up to `total`, in a shuffled order."""
    plan = generated[:total] + mutated(generated, max(0, total - len(generated)), rng)
    rng.shuffle(plan)
    return plan


REAL_ID_ORIGIN = "real-id"


def real_id_sessions(agent_ids: list[str], count: int, block: int, rng: random.Random) -> list[FuzzRequest]:
    """Fuzzed POST /api/sessions for real Letta agents (valid ids, random takeover, identity valid or odd):
    they pass validation and the agent lookup, so they reach the room lookup, creation, the race rule and
    takeover. Each run of `block` requests is for one agent (the agents take turns), so a run sent at once races."""
    out = []
    for i in range(count):
        body: dict[str, object] = {"agent_id": agent_ids[(i // block) % len(agent_ids)]}
        if rng.random() < 0.8:
            body["takeover"] = rng.random() < 0.7  # takeovers at once race each other hardest
        roll = rng.random()
        if roll < 0.3:
            body["identity"] = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789-_", k=rng.randint(1, 20)))
        elif roll < 0.4:
            body["identity"] = rng.choice(("", " ", "a" * 200, "é", "lvs-agent-x", "../x", "\u0000"))
        headers = (("Content-Type", "application/json"),)
        out.append(FuzzRequest("POST", "/api/sessions", headers, json.dumps(body).encode(), REAL_ID_ORIGIN))
    return out


def answer_problems(
    request: FuzzRequest, status: int, headers: list[tuple[str, str]], body: bytes, secrets: dict[str, bytes]
) -> list[str]:
    """What is wrong with one answer: a 5xx, a 4xx under /api that is not JSON with an "error" string, a secret."""
    found = []
    if status >= 500:
        found.append(f"answered {status}")
    under_api = request.path.lstrip("/").lower().startswith("api")
    if 400 <= status < 500 and under_api and request.method != "HEAD" and not request.beyond_gunicorn_limits:
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not (isinstance(data, dict) and isinstance(data.get("error"), str)):
            found.append(f"{status} without a JSON error: {body[:80]!r}")
    seen = body + b"\n".join(f"{k}: {v}".encode(errors="replace") for k, v in headers)
    found += [f"{name} in the answer" for name, value in secrets.items() if value in seen]
    return found
