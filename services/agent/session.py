"""The job entrypoint: one voice session in one room with one Letta agent."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from typing import Any

from livekit import rtc
from livekit.agents import AgentSession, JobContext, JobProcess, room_io
from livekit.agents.types import APIConnectOptions
from livekit.agents.voice import Agent
from livekit.agents.voice.agent_session import SessionConnectOptions

from services.agent import metrics
from services.agent.background import in_daemon_thread
from services.agent.brain import AgentLookup, Lookup, lookup_agent
from services.agent.link_announcer import LinkAnnouncer
from services.agent.policy import MetadataError, parse_dispatch_metadata, parse_switch_request
from services.agent.presence import HumanView, IdleTimer, choose_link
from services.agent.providers import build_stt, build_tts, load_offline_models, plan_speech
from services.agent.room_claims import RoomClaims, claims_dir
from services.agent.switching import Gate, live_elsewhere, set_room_agent, switch_refusal
from services.agent.voice import NOT_FOUND, SWITCH_FAILED, LettaVoiceAgent, switched_to
from services.shared.compaction import start_between_sessions
from services.shared.livekit import (
    HEARTBEAT_ATTRIBUTE,
    LETTA_AGENT_ATTRIBUTE,
    LISTENING_TO_ATTRIBUTE,
    parse_room_metadata,
)
from services.shared.logging import bind_context, log_context
from services.shared.ownership import principal_from_metadata
from services.shared.prompt_warmup import warm_prompt_for_job
from services.shared.settings import Settings, get_settings

log = logging.getLogger("lvs.agent.session")

SWITCH_TOPIC = "lvs.switch-agent"
SUBSCRIBE_WAIT_S = 5.0
SWITCH_INTERVAL_S = 1.0  # per participant: at most one Letta lookup a second, whatever they send
CHAT_INTERVAL_S = 1.0
DEFAULT_TEXT_INPUT = room_io.TextInputOptions().text_input_cb
CLOSE_TRANSCRIPT_TIMEOUT_S = 0.3
NEVER = 1_000_000  # consecutive unrecoverable errors before livekit-agents would close the session


def prewarm(proc: JobProcess) -> None:
    """Load the VAD once per job process (Whisper and the Piper voice live in the speech service)."""
    from livekit.plugins import silero

    from services.agent.logctx import install_context_filter

    install_context_filter()
    # Imported here so the first job does not block its event loop importing them.
    import anyio._backends._asyncio  # noqa: F401
    import letta_client  # noqa: F401

    settings = get_settings()
    started = time.monotonic()
    proc.userdata["vad"] = silero.VAD.load(min_silence_duration=settings.agent.vad_min_silence)
    proc.userdata.update(load_offline_models(plan_speech(settings)))
    log.info(
        "job process prewarmed",
        extra={"stt": settings.agent.stt, "tts": settings.agent.tts, "seconds": round(time.monotonic() - started, 2)},
    )


def is_human(participant: rtc.RemoteParticipant) -> bool:
    return participant.kind != rtc.ParticipantKind.PARTICIPANT_KIND_AGENT


def has_microphone(participant: rtc.RemoteParticipant) -> bool:
    """True when the agent receives a microphone track from ``participant``."""
    return any(
        pub.track is not None and pub.source == rtc.TrackSource.SOURCE_MICROPHONE
        for pub in participant.track_publications.values()
    )


def build_session(settings: Settings, userdata: dict[str, Any]) -> AgentSession:
    """AgentSession with the configured speech providers; faults never close it."""
    plan = plan_speech(settings)
    vad = userdata["vad"]
    return AgentSession(
        vad=vad,
        stt=build_stt(plan, settings, userdata.get("stt")),
        tts=build_tts(plan, settings),
        turn_handling={
            "turn_detection": "vad",
            # The VAD's silence timer is the shorter one: the transcription runs while this delay still waits.
            "endpointing": {"min_delay": settings.agent.endpointing_delay},
            "interruption": {"enabled": True, "mode": "vad"},
            # A preemptive request would write a half-heard turn into Letta's memory.
            "preemptive_generation": {"enabled": False},
        },
        # On close (the room deleted, the person gone) livekit waits this long for a last user transcript that
        # nothing would use; its default 2 s kept the job's slot busy 2 s after every session.
        session_close_transcript_timeout=CLOSE_TRANSCRIPT_TIMEOUT_S,
        conn_options=SessionConnectOptions(
            llm_conn_options=APIConnectOptions(max_retry=0, timeout=settings.letta.timeout),
            max_unrecoverable_errors=NEVER,
        ),
    )


class VoiceJob:
    """State and event wiring of one job: presence/idle timer, agent switch, metrics."""

    def __init__(self, ctx: JobContext, settings: Settings) -> None:
        self.ctx = ctx
        self.settings = settings
        self.session = build_session(settings, ctx.proc.userdata)
        self.idle = IdleTimer(settings.agent.idle_timeout, lambda: bool(self.humans()), self._leave_idle)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.link = LinkAnnouncer(
            lambda sid: self.ctx.room.local_participant.set_attributes({LISTENING_TO_ATTRIBUTE: sid})
        )
        self.switch_gate = Gate(SWITCH_INTERVAL_S)
        self.chat_gate = Gate(CHAT_INTERVAL_S)
        self.started = asyncio.Event()  # the voice session runs: a switch asked for earlier waits for it
        self.letta_agents: list[str] = []  # every Letta agent this session talked to, in order

    # -- presence ---------------------------------------------------------------------------------

    def humans(self) -> list[rtc.RemoteParticipant]:
        return [p for p in self.ctx.room.remote_participants.values() if is_human(p)]

    def _spawn(self, coro: Any, name: str) -> None:
        """Run a side task of the job; its failure is logged, never lost and never fatal."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        if not self.ctx.room.isconnected():
            log.info("task ended with the room", extra={"task": task.get_name()})
            return
        metrics.FAULTS.labels(kind="task").inc()
        log.error("job task failed", extra={"task": task.get_name()}, exc_info=task.exception())

    def watch_heartbeat(self) -> None:
        """Publish a heartbeat attribute every AGENT_HEARTBEAT_INTERVAL while in the room: when this process
        dies, LiveKit still lists the agent for ~20 s, and the stale beat tells the stack to replace it."""
        self._spawn(self._beat(), "heartbeat")

    async def _beat(self) -> None:
        interval = self.settings.agent.heartbeat_interval
        while self.ctx.room.isconnected():
            beat = {HEARTBEAT_ATTRIBUTE: f"{time.time():.2f}"}
            # A failed beat is retried at the next one: one missed beat never makes the agent look dead.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ctx.room.local_participant.set_attributes(beat), interval)
            await asyncio.sleep(interval)

    def _leave_idle(self) -> None:
        log.info("no human for the idle timeout, leaving")
        metrics.JOBS.labels(outcome="idle").inc()
        self.ctx.shutdown(reason="idle timeout")

    def relink(self) -> None:
        """Listen to a human who is in the room (see presence.choose_link)."""
        rio = self.session.room_io
        linked = rio.linked_participant
        views = [HumanView(h.identity, has_microphone(h)) for h in self.humans()]
        target = choose_link(linked.identity if linked else None, views)
        if target is not None:
            log.info("linking to participant", extra={"participant": target})
            rio.set_participant(target)
        self._announce_link()

    def _announce_link(self) -> None:
        """Tell the room whom the agent hears (an attribute on itself), when that changed."""
        linked = self.session.room_io.linked_participant
        sid = linked.sid if linked is not None else ""
        if self.link.want(sid) and self.ctx.room.isconnected():
            self._spawn(self.link.run(), "announce_link")

    def _on_participant_connected(self, participant: rtc.RemoteParticipant) -> None:
        log.info("participant joined", extra={"participant": participant.identity, "sid": participant.sid})
        if is_human(participant):
            self.idle.disarm()
            self.relink()

    def _on_track_subscribed(
        self, track: rtc.Track, publication: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant
    ) -> None:
        if is_human(participant) and publication.source == rtc.TrackSource.SOURCE_MICROPHONE:
            log.info("microphone subscribed", extra={"participant": participant.identity, "track": publication.sid})
            self.relink()

    def _on_participant_disconnected(self, participant: rtc.RemoteParticipant) -> None:
        log.info("participant left", extra={"participant": participant.identity, "sid": participant.sid})
        if not is_human(participant):
            return
        if self.humans():
            self.relink()
        else:
            self.idle.arm()
            self._announce_link()

    def watch_presence(self) -> None:
        room = self.ctx.room
        room.on("participant_connected", self._on_participant_connected)
        room.on("participant_disconnected", self._on_participant_disconnected)
        room.on("track_subscribed", self._on_track_subscribed)
        if self.humans():
            self.relink()  # someone may have come or gone while the session was starting
        else:
            self.idle.arm()

    # -- metrics ----------------------------------------------------------------------------------

    def watch_metrics(self) -> None:
        def on_item(ev: Any) -> None:
            item = ev.item
            if getattr(item, "type", None) == "message" and item.role in ("user", "assistant"):
                metrics.record_turn(item.role, dict(item.metrics or {}))

        def on_error(ev: Any) -> None:
            kind = getattr(ev.error, "type", "other")
            metrics.FAULTS.labels(kind=str(kind)).inc()
            log.warning("session error", extra={"error": repr(ev.error)[:300], "source": str(ev.source)[:80]})

        def on_metrics(ev: Any) -> None:
            metrics.record_event(ev.metrics.model_dump())

        def on_state(who: str) -> Any:
            return lambda ev: log.info("state changed", extra={"who": who, "state": ev.new_state})

        self.session.on("conversation_item_added", on_item)
        self.session.on("agent_state_changed", on_state("agent"))
        self.session.on("user_state_changed", on_state("user"))
        self.session.on("metrics_collected", on_metrics)
        self.session.on("error", on_error)

    # -- agent switch -----------------------------------------------------------------------------

    def watch_switch(self) -> None:
        room = self.ctx.room

        def on_data(packet: rtc.DataPacket) -> None:
            if packet.topic == SWITCH_TOPIC:
                sender = packet.participant.identity if packet.participant else ""
                self._gated_switch(sender, packet.data)

        def on_stream(reader: rtc.TextStreamReader, participant_identity: str) -> None:
            async def read() -> None:
                payload = await reader.read_all()
                self._gated_switch(participant_identity, payload)

            self._spawn(read(), "switch_agent_stream")

        room.on("data_received", on_data)
        room.register_text_stream_handler(SWITCH_TOPIC, on_stream)

    def _gated_switch(self, sender: str, payload: str | bytes) -> None:
        """One switch per participant per second, none while theirs runs: a flood costs one lookup."""
        if not self.switch_gate.enter(sender):
            metrics.FAULTS.labels(kind="switch_dropped").inc()
            return

        async def run() -> None:
            try:
                await self.started.wait()
                await self.switch(payload)
            finally:
                self.switch_gate.leave(sender)

        self._spawn(run(), "switch_agent")

    async def switch(self, payload: str | bytes) -> None:
        try:
            new_id = parse_switch_request(payload)
        except MetadataError as exc:
            log.warning("bad switch request", extra={"error": str(exc)})
            self.session.say(SWITCH_FAILED)
            return
        found = await lookup_agent(self.settings, new_id)
        if found.result is not Lookup.FOUND:
            log.warning("switch refused", extra={"new_letta_agent_id": new_id, "result": found.result})
            self.session.say(SWITCH_FAILED)
            return
        room = self.ctx.room
        who = principal_from_metadata(parse_room_metadata(room.metadata))
        elsewhere = await live_elsewhere(self.settings, new_id, room.name)
        refusal = switch_refusal(found.owner, who, elsewhere)
        if refusal is not None:
            log.warning("switch refused", extra={"new_letta_agent_id": new_id, "result": refusal})
            self.session.say(SWITCH_FAILED)
            return
        bind_context(letta_agent_id=new_id)
        self.letta_agents.append(new_id)
        log.info("switching Letta agent", extra={"letta_agent_id": new_id})
        await set_room_agent(self.settings, room.name, room.metadata, new_id)
        await room.local_participant.set_attributes({LETTA_AGENT_ATTRIBUTE: new_id})
        self.session.update_agent(LettaVoiceAgent(self.settings, new_id, announce=switched_to(found.name)))

    async def on_text(self, session: AgentSession, ev: room_io.TextInputEvent) -> None:
        """Typed chat, at most one turn per participant per second (the rest is dropped, not queued)."""
        sender = ev.participant.identity if ev.participant else ""
        if not self.chat_gate.enter(sender):
            metrics.FAULTS.labels(kind="chat_dropped").inc()
            return
        try:
            await DEFAULT_TEXT_INPUT(session, ev)
        finally:
            self.chat_gate.leave(sender)

    # -- run ----------------------------------------------------------------------------------------

    async def wait_for_listener(self) -> None:
        """Wait until a human is in the room and hears our track (bounded), so speech is not lost."""
        if not self.humans():
            await self.ctx.wait_for_participant()
        fut = self.session.room_io.subscribed_fut
        if fut is not None:
            try:
                await asyncio.wait_for(asyncio.shield(fut), SUBSCRIBE_WAIT_S)
            except TimeoutError:
                log.warning("nobody subscribed to the agent audio in time")

    def room_options(self) -> room_io.RoomOptions:
        return room_io.RoomOptions(
            close_on_disconnect=False, text_input=room_io.TextInputOptions(text_input_cb=self.on_text)
        )

    async def join(self, agent: Agent) -> None:
        """Start the voice session, which connects to the room (livekit-agents connects once its room I/O
        runs). Started before the connection, the room I/O already listens when the page sends the audio it
        recorded while waiting for us (LiveKit's pre-connect buffer): a question asked as the microphone
        starts keeps its first words."""
        self.watch_metrics()
        try:
            await self.session.start(agent=agent, room=self.ctx.room, room_options=self.room_options())
        finally:  # in the room now, or never: either way another worker's job may take the room
            release_room_claim(self.settings, self.ctx.job.room.name, self.ctx.job.id)
        self.watch_heartbeat()

    async def tell_not_found(self, reason: str) -> None:
        """Tell the human the assistant cannot be found, and leave."""
        log.error("cannot serve this Letta agent, leaving", extra={"reason": reason})
        metrics.JOBS.labels(outcome="not_found").inc()
        try:
            await asyncio.wait_for(self.wait_for_listener(), self.settings.agent.idle_timeout)
            await self.session.say(NOT_FOUND, allow_interruptions=False).wait_for_playout()
        except TimeoutError:
            log.info("nobody came to hear it")
        self.ctx.shutdown(reason=f"letta agent not found: {reason}")

    async def look_up(self, letta_agent_id: str) -> AgentLookup:
        """Ask Letta for the agent; when it is there and the model is local, fill llama.cpp's prompt cache with
        its prompt while the job joins and greets."""
        found = await lookup_agent(self.settings, letta_agent_id)
        if found.result is Lookup.FOUND and self.settings.llm.is_local:
            warm = functools.partial(warm_prompt_for_job, self.settings, letta_agent_id)
            self._spawn(in_daemon_thread(warm, "warm-prompt"), "warm_prompt")  # never holds the process at its end
        return found

    def serve(self, letta_agent_id: str) -> None:
        """The Letta agent is known (or Letta is away and each turn says sorry): listen, greet, count."""
        self.letta_agents.append(letta_agent_id)
        self.ctx.add_shutdown_callback(self.compact_between_sessions)
        self.started.set()
        self.watch_presence()
        metrics.JOBS.labels(outcome="started").inc()
        greeting = self.settings.agent.greeting.strip()
        if greeting:
            self._spawn(self._greet(greeting), "greeting")

    async def compact_between_sessions(self) -> None:
        """The session is over: a long conversation is compacted now, by a process of its own, rather than on
        the turn that would fill the context window (services/shared/compaction.py)."""
        for letta_agent_id in dict.fromkeys(self.letta_agents):
            with log_context(letta_agent_id=letta_agent_id):
                await asyncio.to_thread(start_between_sessions, self.settings, letta_agent_id)

    async def _greet(self, greeting: str) -> None:
        await self.wait_for_listener()
        self.session.say(greeting)


def release_room_claim(settings: Settings, room: str, job_id: str) -> None:
    """Our agent is in the room now: the participant list tells the other workers, the claim can go."""
    try:
        RoomClaims(claims_dir(settings)).release(room, job_id)
    except OSError as exc:
        log.warning("cannot release the room claim", extra={"error": repr(exc)})


async def entrypoint(ctx: JobContext) -> None:
    """Serve one room: join with the voice session while Letta is asked for the agent, then serve or leave."""
    settings = get_settings()
    bind_context(room=ctx.job.room.name, job=ctx.job.id)
    try:
        letta_agent_id: str | None = parse_dispatch_metadata(ctx.job.metadata, ctx.job.room.metadata)
        problem = ""
    except MetadataError as exc:
        letta_agent_id, problem = None, str(exc)
    bind_context(letta_agent_id=letta_agent_id)
    job = VoiceJob(ctx, settings)
    # The page may ask for a switch the moment our agent appears: listen before connecting, or LiveKit drops
    # the message ("no callback attached"); it is carried out once the session serves.
    job.watch_switch()
    if letta_agent_id is None:
        await job.join(Agent(instructions="-"))
        await job.tell_not_found(problem)
        return
    lookup = asyncio.create_task(job.look_up(letta_agent_id), name="lookup_agent")
    try:
        await job.join(LettaVoiceAgent(settings, letta_agent_id))
        found = await lookup
    finally:
        lookup.cancel()  # a join that failed leaves no lookup behind
    if found.result is Lookup.MISSING:
        # deaf from here: no turn spoken meanwhile reaches the missing agent (swapping the agent instead
        # would drain the speech queue the message below is said on)
        job.session.input.set_audio_enabled(False)
        await job.tell_not_found(f"{letta_agent_id}: {found.detail}")
        return
    if found.result is Lookup.UNAVAILABLE:
        # Letta may come back: keep the room, each turn says sorry until it does.
        metrics.FAULTS.labels(kind="letta_lookup").inc()
        log.error("Letta unavailable at job start; continuing", extra={"detail": found.detail})
    job.serve(letta_agent_id)
