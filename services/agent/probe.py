"""A synthetic caller for the voice agent: a real livekit `rtc` participant plus room/dispatch helpers.

Used by the agent's stack tests and benchmarks. The caller publishes a microphone track fed with
silence and, on demand, speech (a WAV made with espeak-ng); it measures the agent's audio level
(with timestamps) and collects the transcripts published on the "lk.transcription" topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
import uuid
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from livekit import api, rtc
from livekit.agents.types import ATTRIBUTE_TRANSCRIPTION_SEGMENT_ID

from services.agent.voice import NOT_FOUND, SORRY_EMPTY, SORRY_INTERRUPTED, SORRY_UNAVAILABLE, SWITCH_FAILED
from services.shared.audio import rms, to_mono_int16
from services.shared.letta import letta_client
from services.shared.livekit import LISTENING_TO_ATTRIBUTE, livekit_api, room_metadata
from services.shared.settings import Settings

T = TypeVar("T")

MIC_RATE = 48000
FRAME_MS = 20
SAMPLES_PER_FRAME = MIC_RATE * FRAME_MS // 1000
# Agent audio frames louder than this count as speech (int16 RMS; espeak-ng speaks at ~3000).
SPEECH_RMS = 300.0
# What the agent says instead of an answer (Letta down or slow, an empty reply, a refused switch): audio of
# these lines is no reply.
FALLBACK_LINES = tuple(
    line.lower() for line in (SORRY_UNAVAILABLE, SORRY_INTERRUPTED, SORRY_EMPTY, NOT_FOUND, SWITCH_FAILED)
)
# The espeak-ng voice of the agent tests (pocketsphinx, the old offline STT, was tuned on it).
TEST_VOICE = ("en-us+f2", 130)


def default_agent_id(settings: Settings) -> str:
    """Id of the Letta agent the stack creates on first start."""
    agents = list(letta_client(settings).agents.list(name=settings.letta.default_agent_name))
    assert agents, f"no Letta agent named {settings.letta.default_agent_name}"
    return agents[0].id


def espeak_wav(text: str, path: Path, voice: tuple[str, int] = TEST_VOICE) -> bytes:
    """Speak text with espeak-ng (voice, words per minute) into a WAV; return it as 48 kHz mono int16 PCM."""
    voice, rate = voice
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-w", str(path), text], check=True)
    with wave.open(str(path)) as w:
        raw = w.readframes(w.getnframes())
        return to_mono_int16(raw, w.getframerate(), w.getnchannels(), MIC_RATE)


async def poll(
    condition: Callable[[], Awaitable[T]], timeout: float, what: str | Callable[[], str], interval: float = 0.2
) -> T:
    """Await ``condition`` until it returns something truthy; AssertionError naming ``what`` after timeout."""
    end = time.monotonic() + timeout
    while True:
        value = await condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what if isinstance(what, str) else what()}")
        await asyncio.sleep(interval)


async def until(condition: Callable[[], T], timeout: float, what: str | Callable[[], str]) -> T:
    async def check() -> T:
        return condition()

    return await poll(check, timeout, what)


def new_room_name(settings: Settings) -> str:
    return f"{settings.recovery.room_prefix}agent-test-{uuid.uuid4().hex[:10]}"


async def create_room(lk: api.LiveKitAPI, room: str, letta_agent_id: str) -> None:
    await lk.room.create_room(api.CreateRoomRequest(name=room, metadata=room_metadata(letta_agent_id)))


async def dispatch(lk: api.LiveKitAPI, settings: Settings, room: str, letta_agent_id: str) -> None:
    await lk.agent_dispatch.create_dispatch(
        api.CreateAgentDispatchRequest(
            agent_name=settings.agent.name, room=room, metadata=json.dumps({"letta_agent_id": letta_agent_id})
        )
    )


async def our_agents(lk: api.LiveKitAPI, settings: Settings, room: str) -> list[api.ParticipantInfo]:
    res = await lk.room.list_participants(api.ListParticipantsRequest(room=room))
    return [
        p
        for p in res.participants
        if p.kind == api.ParticipantInfo.Kind.AGENT and p.identity.startswith(settings.agent.identity_prefix)
    ]


async def delete_room(lk: api.LiveKitAPI, room: str) -> None:
    with contextlib.suppress(api.TwirpError):
        await lk.room.delete_room(api.DeleteRoomRequest(room=room))


@contextlib.asynccontextmanager
async def human_with_agent(settings: Settings, letta_agent_id: str) -> AsyncIterator[tuple[api.LiveKitAPI, Human]]:
    """A new room of ours with a human in it and our agent dispatched; the human leaves and the room goes after."""
    room = new_room_name(settings)
    human = Human(settings, room)
    async with livekit_api(settings) as lk:
        await create_room(lk, room, letta_agent_id)
        try:
            await human.join()
            await dispatch(lk, settings, room, letta_agent_id)
            yield lk, human
        finally:
            await human.leave()
            await delete_room(lk, room)


def human_token(settings: Settings, room: str, identity: str) -> str:
    grant = api.VideoGrants(room_join=True, room=room)
    tok = api.AccessToken(settings.livekit.api_key, settings.livekit.api_secret.get_secret_value())
    return tok.with_identity(identity).with_grants(grant).with_ttl(timedelta(minutes=10)).to_jwt()


@dataclass
class Human:
    """A person in the room: a microphone that is silent unless told to speak, and ears."""

    settings: Settings
    room_name: str
    identity: str = field(default_factory=lambda: f"human-{uuid.uuid4().hex[:8]}")
    room: rtc.Room = field(default_factory=rtc.Room)
    loud_frames: int = 0
    heard_frames: int = 0
    loud_times: list[float] = field(default_factory=list)  # monotonic time of each loud agent frame
    speech_ended_at: float | None = None  # monotonic time the last queued speech left the microphone
    # (sender identity, text), one entry per transcript segment: a segment's later stream (the final text after
    # an interim one) replaces its text in place
    transcripts: list[tuple[str, str]] = field(default_factory=list)
    _segment_index: dict[tuple[str, str], int] = field(default_factory=dict)
    # every transcript stream as it opened: [monotonic time, sender identity, text (filled in once read)]
    segments: list[list[object]] = field(default_factory=list)
    _speech: list[bytes] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def join(self, url: str | None = None, token: str | None = None) -> None:
        """Connect (with a token of its own, or one handed out by the web service) and start the microphone."""
        self.room.on("track_subscribed", self._on_track)
        self.room.register_text_stream_handler("lk.transcription", self._on_transcript)
        token = token or human_token(self.settings, self.room_name, self.identity)
        await self.room.connect(url or self.settings.livekit.url, token)
        self._source = rtc.AudioSource(MIC_RATE, 1, queue_size_ms=100)
        track = rtc.LocalAudioTrack.create_audio_track("mic", self._source)
        opts = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        await self.room.local_participant.publish_track(track, opts)
        self._tasks.append(asyncio.create_task(self._mic()))

    async def leave(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.room.disconnect()

    def say_pcm(self, pcm: bytes) -> None:
        """Queue 48 kHz mono int16 PCM to be spoken into the microphone (then silence again)."""
        self._speech.append(pcm)

    def agent(self) -> rtc.RemoteParticipant | None:
        for p in self.room.remote_participants.values():
            if p.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT:
                return p
        return None

    def agent_state(self) -> str | None:
        a = self.agent()
        return a.attributes.get("lk.agent.state") if a else None

    def heard_by_agent(self) -> bool:
        """True once the agent says it listens to this very connection (not an earlier one of ours)."""
        a = self.agent()
        sid = self.room.local_participant.sid if self.room.isconnected() else None
        return a is not None and bool(sid) and a.attributes.get(LISTENING_TO_ATTRIBUTE) == sid

    def first_loud_after(self, t: float) -> float | None:
        """Monotonic time of the first loud agent frame after ``t`` (None: none yet)."""
        return next((x for x in self.loud_times if x > t), None)

    def transcript_text(self) -> str:
        return " ".join(text for _, text in self.transcripts).lower()

    def user_text(self) -> str:
        """What the agent heard this human say (transcripts it sent on this human's behalf)."""
        return " ".join(text for sender, text in self.transcripts if sender == self.identity).lower()

    def agent_text(self) -> str:
        """What the agent said (transcripts of its own speech, from any other sender)."""
        return " ".join(text for sender, text in self.transcripts if sender != self.identity).lower()

    def reply_frames(self, after: float) -> int:
        """Loud agent frames of agent speech begun after ``after`` that is not a fallback line.

        Each loud frame belongs to the agent's transcript segment open when it played (the agent's transcript
        is synchronised with its audio); frames of a segment whose text is a fallback/sorry line, or not yet
        known, do not count."""
        agent = sorted((float(t), str(text)) for t, sender, text in self.segments if sender != self.identity)
        count = 0
        for i, (opened, text) in enumerate(agent):
            if opened < after or not text or any(line in text.lower() for line in FALLBACK_LINES):
                continue
            until_t = agent[i + 1][0] if i + 1 < len(agent) else float("inf")
            count += sum(1 for x in self.loud_times if opened <= x < until_t)
        return count

    async def _mic(self) -> None:
        silence = bytes(SAMPLES_PER_FRAME * 2)
        step = SAMPLES_PER_FRAME * 2
        while True:
            pcm = self._speech.pop(0) if self._speech else silence
            for i in range(0, len(pcm), step):
                chunk = pcm[i : i + step].ljust(step, b"\0")
                frame = rtc.AudioFrame(chunk, MIC_RATE, 1, SAMPLES_PER_FRAME)
                await self._source.capture_frame(frame)
            if pcm is not silence:
                self.speech_ended_at = time.monotonic() + self._source.queued_duration
            else:
                await asyncio.sleep(0)  # capture_frame paces at real time once its queue is full

    def _on_track(self, track: rtc.Track, pub: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant) -> None:
        if track.kind == rtc.TrackKind.KIND_AUDIO and participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT:
            self._tasks.append(asyncio.create_task(self._listen(track)))

    async def _listen(self, track: rtc.Track) -> None:
        stream = rtc.AudioStream(track, sample_rate=MIC_RATE, num_channels=1)
        try:
            async for ev in stream:
                self.heard_frames += 1
                if rms(bytes(ev.frame.data)) > SPEECH_RMS:
                    self.loud_frames += 1
                    self.loud_times.append(time.monotonic())
        finally:
            await stream.aclose()

    def _keep_transcript(self, sender: str, segment_id: str, text: str) -> None:
        """Record ``text`` as the latest of its segment (livekit sends a user's segment again once final)."""
        index = self._segment_index.get((sender, segment_id))
        if index is None:
            self._segment_index[(sender, segment_id)] = len(self.transcripts)
            self.transcripts.append((sender, text))
        else:
            self.transcripts[index] = (sender, text)

    def _on_transcript(self, reader: rtc.TextStreamReader, sender: str) -> None:
        segment: list[object] = [time.monotonic(), sender, ""]
        self.segments.append(segment)

        segment_id = (reader.info.attributes or {}).get(ATTRIBUTE_TRANSCRIPTION_SEGMENT_ID) or reader.info.stream_id

        async def read() -> None:
            text = await reader.read_all()
            segment[2] = text
            if text.strip():
                self._keep_transcript(sender, segment_id, text)

        self._tasks.append(asyncio.create_task(read()))
