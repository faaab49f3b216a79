"""`make up` refuses a taken port, naming the setting that chooses it."""

from __future__ import annotations

import socket

import pytest

from services.shared.settings import Settings
from services.stack.cli import StackError, check_ports
from services.stack.programs import programs

pytestmark = pytest.mark.unit


class NotRunning:
    def running(self) -> bool:
        return False


def test_taken_port_names_service_and_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        monkeypatch.setenv("WEB_PORT", str(port))
        settings = Settings()
        web_only = [p for p in programs(settings) if p.name == "web"]
        with pytest.raises(StackError, match=rf"web port {port} \(WEB_PORT\)"):
            check_ports(settings, web_only, NotRunning())  # type: ignore[arg-type]
