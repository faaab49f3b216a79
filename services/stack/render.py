"""Render the run-time configuration files (supervisord.conf, livekit.yaml) from the settings."""

from __future__ import annotations

import configparser
import io
import ipaddress
import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from services.shared.settings import Settings, is_loopback
from services.stack.applied import reads
from services.stack.effective import settings_given
from services.stack.programs import Program

PRIVATE_UMASK = "077"


def livekit_config(settings: Settings, node: int = 0) -> dict[str, Any]:
    """livekit-server's configuration: ports, keys, room timeouts, webhooks to the recovery sidecar; in a
    cluster (LIVEKIT_NODES > 1) node ``node`` with its own ports and the shared Redis."""
    lk = settings.livekit
    conf: dict[str, Any] = {
        "port": lk.node_port(node),
        "bind_addresses": [lk.bind],
        "rtc": rtc_config(settings, node),
        "keys": {lk.api_key: lk.api_secret.get_secret_value()},
        # Rooms are created through the API only (web service, smoke): a lagging agent job or client cannot
        # bring back a room that was deleted.
        "room": {
            "auto_create": False,
            "empty_timeout": lk.empty_timeout,
            "departure_timeout": lk.departure_timeout,
        },
        "webhook": {
            "api_key": lk.api_key,
            "urls": [f"http://127.0.0.1:{settings.recovery.port}/webhooks/livekit"],
        },
        "logging": {"json": True, "level": "info"},
    }
    if lk.cluster:
        # Distributed mode: rooms, signal relays and agent jobs are routed between the nodes through Redis.
        rd = settings.redis
        conf["redis"] = {"address": rd.address, "password": rd.password.get_secret_value() if rd.password else None}
    return conf


def rtc_config(settings: Settings, node: int = 0) -> dict[str, Any]:
    """Media ports that follow LIVEKIT_BIND: on loopback UDP listens on 127.0.0.1 only and ICE/TCP is off
    (tcp_port 0: livekit-server's default 7881 would bind on every interface); on a specific address UDP
    listens there only."""
    lk = settings.livekit
    if is_loopback(lk.bind):
        return {
            "tcp_port": 0,
            "udp_port": lk.node_rtc_udp_port(node),
            "use_external_ip": False,
            "node_ip": "127.0.0.1",
            "enable_loopback_candidate": True,
            "ips": {"includes": ["127.0.0.1/32"]},
        }
    conf: dict[str, Any] = {
        "tcp_port": lk.node_rtc_tcp_port(node),
        "udp_port": lk.node_rtc_udp_port(node),
        "use_external_ip": False,
    }
    try:
        network = ipaddress.ip_network(lk.bind)
    except ValueError:  # a host name: livekit-server resolves it for HTTP only
        return conf
    if not network.network_address.is_unspecified:
        conf["ips"] = {"includes": [str(network)]}
    return conf


def _strip_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_none(v) for k, v in value.items() if v is not None}
    return value


def livekit_yaml(settings: Settings, node: int = 0) -> str:
    return yaml.safe_dump(_strip_none(livekit_config(settings, node)), sort_keys=False)


def livekit_config_name(node: int) -> str:
    """The config file of node ``node``: livekit.yaml, livekit-2.yaml …"""
    return "livekit.yaml" if node == 0 else f"livekit-{node + 1}.yaml"


def redis_conf(settings: Settings) -> str:
    """Our own Redis for a LiveKit cluster: loopback (or REDIS_HOST), a password, no files on disk (LiveKit's
    state in it is live routing only, rebuilt when the nodes start), no commands that rewrite its config."""
    rd = settings.redis
    password = rd.password.get_secret_value() if rd.password else ""
    lines = [
        f"bind {rd.host}",
        f"port {rd.port}",
        "protected-mode yes",
        "daemonize no",
        'logfile ""',
        'save ""',
        "appendonly no",
        f"dir {settings.stack.data_dir / 'redis'}",
        f'requirepass "{password}"',
        'rename-command CONFIG ""',
        'rename-command DEBUG ""',
        "maxmemory 256mb",
        "maxmemory-policy noeviction",
    ]
    return "\n".join(lines) + "\n"


def _env_value(value: str) -> str:
    # supervisord's environment= takes KEY="value" pairs; quotes and % need escaping
    return '"' + value.replace("%", "%%").replace('"', '\\"') + '"'


def program_environment(prog: Program, given: dict[str, tuple[str, str]]) -> dict[str, str]:
    """A program's variables: the settings it reads of those `make up`'s environment sets (``given``, from
    effective.settings_given), then its own.

    supervisord starts without the settings in its environment (Supervisor.launch), so these are the ones the
    program sees, as they are at this `make up`. Only the settings it reads (applied.reads): a setting changed
    in the environment restarts the programs that read it, as one changed in .env does.
    """
    env = {name: value for name, (section, value) in given.items() if reads(prog.name, section, name.upper())}
    return env | prog.env


def supervisord_conf(settings: Settings, progs: list[Program], environ: Mapping[str, str] | None = None) -> str:
    """supervisord.conf: one program per service, none started automatically (the runner orders them).

    ``environ``: the environment whose settings reach the programs (default: this process's).
    """
    given = settings_given(settings, os.environ if environ is None else environ)
    s = settings.stack
    conf = configparser.RawConfigParser()
    conf["unix_http_server"] = {"file": str(s.run_dir / "supervisor.sock"), "chmod": "0700"}
    conf["supervisord"] = {
        "logfile": str(s.log_dir / "supervisord.log"),
        "pidfile": str(s.run_dir / "supervisord.pid"),
        "childlogdir": str(s.log_dir),
        "logfile_maxbytes": "10MB",
        "nodaemon": "false",
        "silent": "true",
        "umask": PRIVATE_UMASK,  # logs and every file the programs create: owner only
    }
    conf["rpcinterface:supervisor"] = {
        "supervisor.rpcinterface_factory": "supervisor.rpcinterface:make_main_rpcinterface"
    }
    conf["supervisorctl"] = {"serverurl": f"unix://{s.run_dir / 'supervisor.sock'}"}
    for prog in progs:
        section: dict[str, str] = {
            "command": shlex.join(prog.command),
            "directory": str(prog.directory),
            "autostart": "false",
            "autorestart": "true",
            "startsecs": "1",
            "startretries": "5",
            "stopsignal": "TERM",
            "stopwaitsecs": str(prog.stop_wait),
            "stopasgroup": "true" if prog.stop_as_group else "false",
            "killasgroup": "true",
            "redirect_stderr": "true",
            "stdout_logfile": str(s.log_dir / f"{prog.name}.log"),
            "stdout_logfile_maxbytes": "20MB",
            "stdout_logfile_backups": "2",
            "umask": PRIVATE_UMASK,
        }
        env = program_environment(prog, given)
        if env:
            section["environment"] = ",".join(f"{k}={_env_value(v)}" for k, v in sorted(env.items()))
        if prog.user:
            section["user"] = prog.user
        conf[f"program:{prog.name}"] = section
    out = io.StringIO()
    conf.write(out)
    return out.getvalue()


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (it holds secrets)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text)


def render_all(settings: Settings, progs: list[Program]) -> None:
    """Write livekit.yaml (one per node), redis.conf (a cluster) and supervisord.conf into the run folder."""
    run = settings.stack.run_dir
    for node in range(settings.livekit.nodes):
        write_private(run / livekit_config_name(node), livekit_yaml(settings, node))
    if settings.livekit.cluster:
        (settings.stack.data_dir / "redis").mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private(run / "redis.conf", redis_conf(settings))
    write_private(run / "supervisord.conf", supervisord_conf(settings, progs))
