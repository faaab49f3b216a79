"""Talk to the stack's supervisord over its XML-RPC unix socket."""

from __future__ import annotations

import http.client
import subprocess
import xmlrpc.client
from dataclasses import dataclass
from typing import Any

from supervisor.xmlrpc import SupervisorTransport

from services.shared.settings import Settings
from services.stack.effective import outside_settings
from services.stack.programs import venv_bin


@dataclass(frozen=True)
class ProcessInfo:
    name: str
    state: str
    pid: int
    uptime_s: int


class Supervisor:
    """A small client of supervisord's XML-RPC interface."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.socket = settings.stack.run_dir / "supervisor.sock"
        self._rpc: Any = self._connect()

    def _connect(self) -> Any:
        transport = SupervisorTransport(None, None, serverurl=f"unix://{self.socket}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def running(self) -> bool:
        """True when supervisord answers on its socket (a socket file left by a supervisord that died is not)."""
        if not self.socket.exists():
            return False
        try:
            return self._rpc.supervisor.getState()["statename"] == "RUNNING"
        except (OSError, http.client.HTTPException, xmlrpc.client.Fault):
            self._rpc = self._connect()  # a refused connection leaves the old transport stuck in "Request-sent"
            return False

    def launch(self) -> None:
        """Start supervisord in the background with the rendered config.

        Without the environment's settings: each program gets the ones it reads from its `environment=` line
        (render.program_environment), which every `make up` renders again, so a setting changed or unset in
        the environment of a later `make up` reaches the programs it restarts (inherited from supervisord's
        start, the value of the first `make up` would stay).
        """
        conf = self.settings.stack.run_dir / "supervisord.conf"
        command = [venv_bin(self.settings, "supervisord"), "-c", str(conf)]
        subprocess.run(command, check=True, env=outside_settings(self.settings))

    def reload_config(self) -> list[str]:
        """Pick up a re-rendered config (added, changed or removed programs); the changed ones were stopped."""
        added, changed, removed = self._rpc.supervisor.reloadConfig()[0]
        for name in changed + removed:
            self._stop_quietly(name)
            self._rpc.supervisor.removeProcessGroup(name)
        for name in added + changed:
            self._rpc.supervisor.addProcessGroup(name)
        return list(changed)

    def start(self, name: str) -> None:
        try:
            self._rpc.supervisor.startProcess(name, False)
        except xmlrpc.client.Fault as fault:
            if "ALREADY_STARTED" not in fault.faultString:
                raise

    def stop(self, name: str) -> None:
        self._stop_quietly(name)

    def _stop_quietly(self, name: str) -> None:
        try:
            self._rpc.supervisor.stopProcess(name, True)
        except xmlrpc.client.Fault as fault:
            if "NOT_RUNNING" not in fault.faultString and "BAD_NAME" not in fault.faultString:
                raise

    def info(self) -> dict[str, ProcessInfo]:
        out = {}
        for p in self._rpc.supervisor.getAllProcessInfo():
            uptime = p["now"] - p["start"] if p["statename"] == "RUNNING" else 0
            out[p["name"]] = ProcessInfo(p["name"], p["statename"], p["pid"], uptime)
        return out

    def shutdown(self) -> None:
        """Stop every program (process groups included), then supervisord itself."""
        self._rpc.supervisor.stopAllProcesses(True)
        self._rpc.supervisor.shutdown()
