"""The native stack runner: `python -m services.stack up|down|status|logs|restart|check`."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable

from services.shared import compaction_registry
from services.shared.letta_agents import ModelNotFound, prepare_default_agent
from services.shared.prompt_warmup import PromptWarming
from services.shared.settings import Settings, load_settings_or_exit
from services.stack import database
from services.stack.applied import AppliedStore, Change, fingerprint, pending_changes
from services.stack.dev_secrets import ensure_dev_secrets
from services.stack.effective import Effective, effective_settings, env_file_problems, format_table
from services.stack.health import port_in_use, probe, wait_for
from services.stack.private_files import make_private
from services.stack.programs import Program, programs
from services.stack.render import render_all
from services.stack.supervisor import Supervisor
from services.web.store import Store
from services.web.users import ensure_owner

LOG_TAIL_LINES = 30


def say(message: str) -> None:
    print(message, flush=True)


def log_tail(settings: Settings, name: str, lines: int = LOG_TAIL_LINES) -> str:
    path = settings.stack.log_dir / f"{name}.log"
    if not path.exists():
        return f"(no log at {path})"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class StackError(RuntimeError):
    """`make up` cannot go on; names the service and carries the log tail."""


def check_ports(settings: Settings, progs: list[Program], sup: Supervisor) -> None:
    """Every port we are about to bind is free (or already held by our own running program)."""
    ours = sup.info() if sup.running() else {}
    taken = [
        f"{prog.name} port {port} ({setting})"
        for prog in progs
        if ours.get(prog.name) is None or ours[prog.name].state != "RUNNING"
        for setting, port in prog.ports
        if port_in_use(port)
    ]
    if taken:
        raise StackError(f"port already in use: {', '.join(taken)}. Stop what uses it or set another port in .env.")


def wait_healthy(settings: Settings, sup: Supervisor, progs: list[Program]) -> None:
    """Wait until each program answers its health probe; fail naming the first that does not."""
    pending = {p.name: p for p in progs}
    started = time.monotonic()

    def poll() -> bool:
        for name, prog in list(pending.items()):
            if probe(prog.health):
                say(f"    healthy  {name:<10} ({time.monotonic() - started:4.1f}s)")
                del pending[name]
        states = sup.info()
        for name in pending:
            if states.get(name) and states[name].state in ("FATAL", "EXITED", "BACKOFF"):
                raise StackError(f"{name} exited while starting ({states[name].state})")
        return not pending

    last_note = [0.0]

    def note(remaining: float) -> None:
        if time.monotonic() - last_note[0] > 10:
            last_note[0] = time.monotonic()
            say(f"    waiting for {', '.join(pending)} ({remaining:.0f}s left)")

    if not wait_for(poll, settings.stack.health_timeout, interval=0.25, on_tick=note):
        probed = ", ".join(f"{name} at {prog.health.target}" for name, prog in pending.items())
        raise StackError(
            f"{', '.join(pending)} did not become healthy in {settings.stack.health_timeout:.0f}s (probed {probed})"
        )


def _failing_service(error: StackError, progs: list[Program]) -> str | None:
    text = str(error)
    return next((p.name for p in progs if text.startswith(p.name) or f" {p.name} " in f" {text} "), None)


WEAK_DB_PASSWORD = "letta"
REQUIRED_SECRETS = (("LETTA_PASSWORD", "letta", "password"), ("POSTGRES_ADMIN_PASSWORD", "postgres", "admin_password"))


def check_secrets(settings: Settings) -> None:
    """The generated secrets the native stack needs are set (by .stack/secrets.env, .env or the environment)."""
    for env_name, section, field in REQUIRED_SECRETS:
        value = getattr(getattr(settings, section), field)
        if value is None or not value.get_secret_value():
            raise StackError(f"{env_name} is empty: remove its line from .env to have one generated")
    if settings.postgres.password.get_secret_value() == WEAK_DB_PASSWORD:
        say(f"note: POSTGRES_PASSWORD is the old default '{WEAK_DB_PASSWORD}' (set in .env?): remove that line to have")
        say("      a strong one generated in .stack/secrets.env")


def secure_postgres(settings: Settings, sup: Supervisor) -> None:
    """Apply PostgreSQL's access rules; a server running with other rules (old code) is stopped first."""
    pg = settings.postgres
    if port_in_use(pg.port, pg.host):
        if database.hba_is_current(settings) and database.admin_can_connect(settings):
            return
        if not sup.running() or "postgres" not in sup.info():
            raise StackError(f"postgres: something else listens on {pg.host}:{pg.port} (POSTGRES_PORT)")
        say("    stopping PostgreSQL to apply its access rules (passwords, no trust)")
        sup.stop("postgres")
        if not wait_for(lambda: not port_in_use(pg.port, pg.host), 60, interval=0.3):
            raise StackError("postgres did not stop in 60s")
    database.secure_offline(settings)


def applied_rows(settings: Settings) -> list[Effective]:
    """The settings the programs' fingerprints cover: without a cluster nothing reads the Redis ones (a new
    generated REDIS_PASSWORD restarts nothing on a one-node stack)."""
    rows = effective_settings(settings)
    return rows if settings.livekit.cluster else [r for r in rows if r.section != "redis"]


def cmd_up(settings: Settings) -> int:
    progs = programs(settings)
    sup = Supervisor(settings)
    for folder in (settings.stack.log_dir, settings.stack.run_dir, settings.stack.data_dir / "letta"):
        folder.mkdir(parents=True, exist_ok=True)
    begun = time.monotonic()
    warming: PromptWarming | None = None
    try:
        check_secrets(settings)
        say("==> Checking ports")
        check_ports(settings, progs, sup)
        say("==> Making the stack's files private")
        changed = make_private(settings)
        say(f"    {len(changed)} files and folders tightened to owner-only" if changed else "    already private")
        say("==> Preparing PostgreSQL data")
        database.init_postgres(settings)
        secure_postgres(settings, sup)
        render_all(settings, progs)
        rows = applied_rows(settings)
        store = AppliedStore(settings.stack.run_dir)
        restarts: dict[str, Change] = {}
        if sup.running():
            running = {name for name, proc in sup.info().items() if proc.state == "RUNNING"}
            reloaded = sup.reload_config()
            restarts = {c.program: c for c in pending_changes(store, [p.name for p in progs], rows, running)}
            for name in reloaded:
                if name in running and name not in restarts:
                    restarts[name] = Change(name, ["(its command or environment)"])
        else:
            say("==> Starting supervisord")
            sup.launch()
            if not wait_for(sup.running, 15):
                raise StackError("supervisord did not start: see .stack/logs/supervisord.log")
        for stage in sorted({p.stage for p in progs}):
            group = [p for p in progs if p.stage == stage]
            for prog in group:
                if prog.name in restarts:
                    say(f"==> Restarting {prog.name}: changed {', '.join(restarts[prog.name].settings)}")
                    sup.stop(prog.name)
            say(f"==> Starting {', '.join(p.name for p in group)}")
            if stage == 1:
                database.ensure_database(settings)
                database.migrate_letta(settings)
                for change in database.sync_letta_provider(settings):
                    say(f"    Letta's model provider: {change} (config/letta-provider-sync.sql)")
            for prog in group:
                sup.start(prog.name)
            wait_healthy(settings, sup, group)
            for prog in group:
                store.save(prog.name, fingerprint(prog.name, rows))
            if stage == 1:
                say("==> Default Letta agent")
                report, agent_id = prepare_default_agent(settings)
                say(f"    {report}")
                warming = PromptWarming.start(settings, agent_id)
                say("==> Web accounts")
                say(f"    {ensure_owner(settings, Store.for_settings(settings))}")
                logins = "required" if settings.auth_required else "off (loopback; WEB_AUTH=on turns them on)"
                say(f"    logins: {logins}")
    except (StackError, database.SetupError, ModelNotFound) as error:
        say(f"\nerror: {error}")
        name = _failing_service(error, progs) if isinstance(error, StackError) else None
        if name:
            say(f"--- last lines of .stack/logs/{name}.log ---\n{log_tail(settings, name)}")
        say("The stack is partly started: 'make down' stops it, 'make logs s=NAME' shows a log.")
        return 1
    if warming is not None:
        say(f"==> Offline model warmed with the assistant's prompt (while the workers started): {warming.result()}")
    if restarts:
        say(f"\nRestarted for changed settings: {', '.join(restarts)}.")
    elif sup.running():
        say("\nNo setting changed since the services started: nothing restarted.")
    say(f"\nAll services healthy in {time.monotonic() - begun:.1f}s.\n")
    print_table(settings, progs, sup)
    print_model_notice(settings)
    return 0


def print_table(settings: Settings, progs: list[Program], sup: Supervisor) -> None:
    info = sup.info() if sup.running() else {}
    say(f"{'service':<11} {'state':<9} {'pid':>7} {'port':>6} {'health':<8} {'uptime':>8}  endpoint")
    for prog in progs:
        proc = info.get(prog.name)
        healthy = "healthy" if probe(prog.health, timeout=1.0) else "down"
        state = proc.state if proc else "-"
        pid = str(proc.pid) if proc and proc.pid else "-"
        uptime = f"{proc.uptime_s}s" if proc and proc.uptime_s else "-"
        say(f"{prog.name:<11} {state:<9} {pid:>7} {prog.port:>6} {healthy:<8} {uptime:>8}  {prog.health.target}")
    say(f"\nOpen the voice assistant: {settings.web.base_url}/")


def print_model_notice(settings: Settings) -> None:
    if settings.llm.is_local and settings.llm.gguf_path is None:
        say(
            "\nNote: the offline model (Qwen2.5-Coder-0.5B) answers simple questions and keeps the recent\n"
            "conversation, but cannot save facts to long-term memory. For a full assistant set OPENAI_API_KEY\n"
            "(and OPENAI_BASE_URL for Ollama/vLLM or another OpenAI-compatible server), or LLM_GGUF_PATH to a\n"
            "bigger local GGUF, in .env and run 'make up' again. See README.md, 'Using a real model'."
        )


def cmd_down(settings: Settings) -> int:
    if compactions := compaction_registry.stop_running(settings):
        say(f"==> Stopped {compactions} compaction process(es) of the Letta agents' conversations")
    sup = Supervisor(settings)
    if not sup.running():
        say("The stack is not running.")
        return 0
    pid_file = settings.stack.run_dir / "supervisord.pid"
    pid = int(pid_file.read_text()) if pid_file.exists() else None
    say("==> Stopping every service")
    sup.shutdown()

    def gone() -> bool:
        if pid is None:
            return not sup.socket.exists()
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    if not wait_for(gone, 90, interval=0.3):
        say("error: supervisord did not stop in 90s")
        return 1
    say("    stopped (data kept in .stack/data)")
    return 0


def cmd_status(settings: Settings) -> int:
    sup = Supervisor(settings)
    if not sup.running():
        say("The stack is not running ('make up' starts it).")
        return 3
    print_table(settings, programs(settings), sup)
    return 0


def cmd_logs(settings: Settings, name: str | None, follow: bool) -> int:
    names = [p.name for p in programs(settings)]
    if name and name not in names:
        say(f"error: unknown service '{name}' (one of: {', '.join(names)})")
        return 2
    files = [settings.stack.log_dir / f"{n}.log" for n in ([name] if name else names)]
    files = [str(f) for f in files if f.exists()]
    if not files:
        say("No logs yet.")
        return 0
    return subprocess.call(["tail", "-n", "50", *(["-F"] if follow else []), *files])


def missing_commands(progs: list[Program]) -> list[str]:
    """'name: path' of every program whose executable is not there (as supervisord would find it)."""
    return [f"{p.name}: {p.command[0]}" for p in progs if p.command and shutil.which(p.command[0]) is None]


def cmd_restart(settings: Settings, name: str) -> int:
    progs = {p.name: p for p in programs(settings)}
    if name not in progs:
        say(f"error: unknown service '{name}' (one of: {', '.join(progs)})")
        return 2
    # The reload below applies the re-rendered config to every program: a command that is not there (another
    # STACK_CACHE_DIR than `make up` used, a removed build) would stop that program and not start it again.
    missing = missing_commands(list(progs.values()))
    if missing:
        say(
            f"error: not found: {'; '.join(missing)}. Nothing was restarted. Is STACK_CACHE_DIR "
            f"({settings.stack.cache}) the one 'make up' used? 'make up' installs what is missing."
        )
        return 2
    sup = Supervisor(settings)
    if not sup.running():
        say("The stack is not running ('make up' starts it).")
        return 3
    render_all(settings, list(progs.values()))
    # A program whose command or environment changed is stopped by the reload: start it again too.
    others = [n for n in sup.reload_config() if n != name and n in progs]
    if others:
        say(f"also restarting {', '.join(others)}: its command or environment changed")
    sup.stop(name)
    group = sorted((progs[n] for n in [*others, name]), key=lambda p: p.stage)
    rows = applied_rows(settings)
    try:
        for prog in group:
            sup.start(prog.name)
            wait_healthy(settings, sup, [prog])
            AppliedStore(settings.stack.run_dir).save(prog.name, fingerprint(prog.name, rows))
    except StackError as error:
        failed = _failing_service(error, group) or name
        say(f"error: {error}\n{log_tail(settings, failed)}")
        return 1
    return 0


def cmd_check(settings: Settings) -> int:
    """Valid values (checked on load) and no line in .env that the stack does not know."""
    problems = env_file_problems(settings)
    for problem in problems:
        say(f"error: invalid setting: {problem}")
    return 2 if problems else 0


def cmd_config(settings: Settings) -> int:
    """Every effective setting with its source; secrets masked."""
    status = cmd_check(settings)
    say(format_table(effective_settings(settings)))
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.stack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start every service and wait until healthy")
    sub.add_parser("down", help="stop every service (data is kept)")
    sub.add_parser("status", help="service, pid, port, health, uptime")
    logs = sub.add_parser("logs", help="show logs")
    logs.add_argument("name", nargs="?")
    logs.add_argument("-f", "--follow", action="store_true")
    restart = sub.add_parser("restart", help="restart one service and wait until healthy")
    restart.add_argument("name")
    sub.add_parser("check", help="validate the settings and exit")
    sub.add_parser("config", help="every effective setting, where its value comes from (secrets masked)")
    args = parser.parse_args(argv)
    os.umask(0o077)  # every file the runner writes (configs, secrets, data) is private
    if args.command in ("up", "check") and ensure_dev_secrets():
        say("generated the native stack's secrets in .stack/secrets.env (LiveKit, Letta, PostgreSQL, login cookies)")
    settings = load_settings_or_exit()
    actions: dict[str, Callable[[], int]] = {
        "up": lambda: cmd_up(settings),
        "down": lambda: cmd_down(settings),
        "status": lambda: cmd_status(settings),
        "logs": lambda: cmd_logs(settings, args.name, args.follow),
        "restart": lambda: cmd_restart(settings, args.name),
        "check": lambda: cmd_check(settings),
        "config": lambda: cmd_config(settings),
    }
    return actions[args.command]()


if __name__ == "__main__":
    sys.exit(main())
