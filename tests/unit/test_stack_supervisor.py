"""The stack's supervisord client tells a live supervisord from the socket file a dead one left behind."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from services.shared.settings import Settings
from services.stack.supervisor import Supervisor

pytestmark = pytest.mark.unit

RUNNING_STATE = (
    b"<?xml version='1.0'?><methodResponse><params><param><value><struct>"
    b"<member><name>statename</name><value><string>RUNNING</string></value></member>"
    b"<member><name>statecode</name><value><int>1</int></value></member>"
    b"</struct></value></param></params></methodResponse>"
)


def answer_one_get_state(server: socket.socket) -> None:
    """Answer one XML-RPC request on ``server`` the way supervisord answers ``supervisor.getState``."""
    conn, _ = server.accept()
    with conn:
        request = b""
        while b"</methodCall>" not in request:
            request += conn.recv(4096)
        assert b"supervisor.getState" in request
        head = f"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {len(RUNNING_STATE)}\r\n\r\n"
        conn.sendall(head.encode() + RUNNING_STATE)


def test_a_socket_left_by_a_dead_supervisord_is_not_running(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STACK_DIR", str(tmp_path))
    settings = Settings()
    settings.stack.run_dir.mkdir(parents=True)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(settings.stack.run_dir / "supervisor.sock"))  # bound, never listening: what a killed process leaves
    stale.close()
    assert (settings.stack.run_dir / "supervisor.sock").is_socket()
    sup = Supervisor(settings)
    assert sup.running() is False
    assert sup.running() is False  # asked again (make up asks more than once), the same client still says so
    (settings.stack.run_dir / "supervisor.sock").unlink()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as live:  # a new supervisord: the same client reaches it
        live.bind(str(settings.stack.run_dir / "supervisor.sock"))
        live.listen(1)
        live.settimeout(5)
        answered = threading.Thread(target=answer_one_get_state, args=(live,), daemon=True)
        answered.start()
        assert sup.running() is True
        answered.join(timeout=5)


def test_no_socket_is_not_running(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STACK_DIR", str(tmp_path))
    assert Supervisor(Settings()).running() is False
