"""The AgentServer of the voice worker, built from settings, and the runner behind `start`."""

from __future__ import annotations

import json
import logging
import math
import os
import re
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from services.shared.settings import DispatchMode, Settings, is_loopback

PRELOAD_MODULES = [
    "livekit.plugins.silero",
    "livekit.plugins.openai",  # STT/TTS clients of the speech service (and of OpenAI's cloud)
    "letta_client",
    "httpx",
    "services.agent.session",
    "services.agent.jobs",
    # Imported lazily at a job's start, each blocking its event loop 0.1-0.4 s on a busy machine (livekit-agents'
    # loop monitor named them): the clause tokenizer, the OpenAI SDK's lazily loaded parts, livekit's toolsets.
    "services.agent.chunking",
    "services.agent.tls",
    "openai.pagination",
    "openai.resources.audio",
    "livekit.agents.llm.async_toolset",
]


def agent_name(settings: Settings) -> str:
    """Explicit dispatch registers under AGENT_NAME; automatic dispatch registers with no name."""
    return settings.agent.name if settings.agent.dispatch is DispatchMode.EXPLICIT else ""


def program_name(instance: int) -> str:
    """The supervisord program of worker ``instance``: agent, agent-2, agent-3 …"""
    return "agent" if instance == 0 else f"agent-{instance + 1}"


def is_worker_program(name: str) -> bool:
    """Whether supervisord program ``name`` is an agent worker (program_name of any instance)."""
    return re.fullmatch(r"agent(-[2-9]|-[1-9]\d+)?", name) is not None


def metrics_dir(settings: Settings) -> str:
    return str(settings.stack.run_dir / f"{program_name(settings.agent.instance)}-metrics")


def use_metrics_dir(settings: Settings) -> None:
    """Multiprocess metrics (job processes write, the worker serves): must be on before prometheus_client is
    first imported, or the worker's own metrics stay in memory where its /metrics never shows them."""
    os.makedirs(metrics_dir(settings), exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir(settings)


def worker_url(settings: Settings) -> str:
    """The livekit-server node this worker registers with: in a cluster worker i takes node i mod
    LIVEKIT_NODES, so every node has workers (LiveKit hands jobs to workers of any node through Redis, and a
    stopped node leaves the workers of the others serving every room)."""
    return settings.livekit.node_url(worker_node(settings))


def worker_node(settings: Settings) -> int:
    """The livekit-server node worker AGENT_INSTANCE registers with (i mod LIVEKIT_NODES)."""
    return settings.agent.instance % settings.livekit.nodes


def worker_api_url(settings: Settings) -> str:
    """The server API of the node this worker registered with: its duplicate checks ask the node that hands
    it jobs (every node answers for every room through Redis), so a stopped node 1 leaves them working."""
    return settings.livekit.node_http_url(worker_node(settings))


# livekit-agents preloads its own VAD and end-of-turn model (~244 MB of weights) into the forkserver unless
# this is falsy; turns here end by the Silero VAD (livekit-plugins-silero), which needs neither.
PRELOAD_LOCAL_INFERENCE_ENV = "LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE"


def skip_unused_local_models(environ: dict[str, str] | os._Environ[str] = os.environ) -> None:
    """Keep livekit-agents' local end-of-turn model and VAD out of the worker (set before its forkserver
    starts, which inherits the environment); an operator's explicit value wins."""
    environ.setdefault(PRELOAD_LOCAL_INFERENCE_ENV, "0")


# livekit-server offers a job only to a worker whose last reported load is under 1, and livekit-agents 1.8
# reports it every 2.5 s: a slot freed just after a report stays "full" for up to 2.5 s, and a dispatch in that
# window is dropped ("no workers with sufficient capacity"). Reported every 0.5 s (the load is sampled as often).
STATUS_REPORT_S = 0.5


def report_load_often() -> None:
    """Make livekit-agents send the worker's load to livekit-server every STATUS_REPORT_S seconds."""
    from livekit.agents import worker

    if not hasattr(worker, "UPDATE_STATUS_INTERVAL"):
        raise RuntimeError("livekit-agents no longer has worker.UPDATE_STATUS_INTERVAL: see report_load_often")
    worker.UPDATE_STATUS_INTERVAL = STATUS_REPORT_S


def build_server(settings: Settings):  # -> AgentServer (import deferred: see run())
    """An AgentServer with our request handler, prewarm and entrypoint, configured from settings."""
    from livekit.agents import AgentServer

    from services.agent.jobs import entrypoint, prewarm
    from services.agent.policy import job_load
    from services.agent.requests import RequestHandler

    report_load_often()
    server = AgentServer(
        ws_url=worker_url(settings),
        api_key=settings.livekit.api_key,
        api_secret=settings.livekit.api_secret.get_secret_value(),
        host=settings.agent.bind,
        port=settings.agent.instance_port(settings.agent.instance),
        num_idle_processes=settings.agent.num_idle_processes,
        # Capacity is counted in jobs (policy.job_load), not by CPU load: the CPU is shared.
        load_threshold=math.inf,
        drain_timeout=settings.agent.drain_timeout,
        setup_fnc=prewarm,
        # prewarm loads only the VAD now (the speech models live in the speech service); on a busy 2-core
        # machine a job process start can still take seconds.
        initialize_process_timeout=60.0,
        # Imported once in the forkserver, so each new job process starts with them loaded.
        preload_modules=PRELOAD_MODULES,
        load_fnc=lambda srv: job_load(len(srv.active_jobs), settings.agent.max_jobs),
        prometheus_port=settings.agent.instance_metrics_port(settings.agent.instance),
        prometheus_multiproc_dir=metrics_dir(settings),
    )
    server.rtc_session(entrypoint, agent_name=agent_name(settings), on_request=RequestHandler(settings, server))
    return server


def run(settings: Settings, log_level: str = "INFO") -> None:
    """Run the worker until SIGTERM/SIGINT (which drain running jobs first)."""
    use_metrics_dir(settings)
    skip_unused_local_models()

    from livekit.agents.cli import cli as lk_cli
    from livekit.agents.cli.proto import CliArgs

    from services.agent.logctx import install_context_filter
    from services.shared.logging import configure_logging

    original_setup = lk_cli.setup_logging

    def setup_logging(level: str, devmode: bool, console: bool, compact: bool = False) -> None:
        # livekit's levels and noisy-logger silencing, then our JSON lines on stderr.
        original_setup(level, devmode, console, compact)
        configure_logging("agent", level=getattr(logging, level.upper(), logging.INFO))
        install_context_filter()

    lk_cli.setup_logging = setup_logging
    if is_loopback(urlparse(settings.livekit.url).hostname or ""):
        # devkey/secret is only accepted on loopback (settings enforce 32+ bytes elsewhere).
        warnings.filterwarnings("ignore", message="The HMAC key is")
    server = build_server(settings)
    mark_registration(server, settings)
    lk_cli._run_worker(server, CliArgs(log_level=log_level, log_format="json"))


def registration_file(settings: Settings) -> Path:
    """Written when livekit-server has registered this worker: dispatches made before that are dropped."""
    return registration_path(settings, settings.agent.instance)


def registration_path(settings: Settings, instance: int) -> Path:
    return settings.stack.run_dir / f"{program_name(instance)}.registered"


def mark_registration(server: Any, settings: Settings) -> None:
    """Remove a stale marker now; write {worker_id, pid} when the worker registers (the stack's readiness)."""
    marker = registration_file(settings)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)

    def registered(worker_id: str, _info: object) -> None:
        from services.agent.metrics import JOB_SLOTS_FREE, WORKER_REGISTERED
        from services.agent.policy import free_job_slots

        marker.write_text(json.dumps({"worker_id": worker_id, "pid": os.getpid()}))
        worker = program_name(settings.agent.instance)
        WORKER_REGISTERED.labels(worker=worker).set(1)
        # until the request handler's watch reports it (services/agent/requests.py)
        JOB_SLOTS_FREE.labels(worker=worker).set(free_job_slots(len(server.active_jobs), settings.agent.max_jobs))

    server.on("worker_registered", registered)
