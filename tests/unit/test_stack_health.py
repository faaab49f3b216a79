"""wait_for polls a condition with a deadline; port_in_use sees a listening socket."""

from __future__ import annotations

import socket

import pytest

from services.stack.health import port_in_use, wait_for

pytestmark = pytest.mark.unit


def test_wait_for_returns_the_first_truthy_value() -> None:
    calls = iter([None, 0, "ready"])
    assert wait_for(lambda: next(calls), deadline_s=5, interval=0.001) == "ready"


def test_wait_for_gives_up_at_the_deadline() -> None:
    assert wait_for(lambda: None, deadline_s=0.05, interval=0.01) is None


def test_port_in_use_sees_a_listener() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert port_in_use(port)
    assert not port_in_use(port)


def test_marker_must_name_a_live_process(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json
    import os

    from services.stack.health import marker_alive

    marker = tmp_path / "agent.registered"
    assert not marker_alive(marker)
    marker.write_text(json.dumps({"worker_id": "AW_x", "pid": os.getpid()}))
    assert marker_alive(marker)
    marker.write_text(json.dumps({"worker_id": "AW_x", "pid": 2**22 + 12345}))
    assert not marker_alive(marker)
