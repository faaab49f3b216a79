"""A real LiveKit rtc participant in its own process, for recovery tests (so it can be SIGKILLed).

Run: python -m tests.stack.recovery_rtc ROOM IDENTITY [--agent] [--attr k=v ...] [--signal-only]
Prints "joined" once connected (and an audio track is published), then stays until killed. With --signal-only
it opens the signal connection and never sets up media (listed JOINED, never ACTIVE).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from livekit import api, rtc

from services.shared.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parents[2]


def token(settings: Settings, room: str, identity: str, *, agent: bool, attributes: dict[str, str]) -> str:
    """A join token; kind "agent" when asked (as our worker's participants have)."""
    grant = api.VideoGrants(room_join=True, room=room, agent=agent)
    tok = api.AccessToken(settings.livekit.api_key, settings.livekit.api_secret.get_secret_value())
    tok = tok.with_identity(identity).with_grants(grant).with_attributes(attributes)
    if agent:
        tok = tok.with_kind("agent")
    return tok.to_jwt()


async def join(room_name: str, identity: str, agent: bool, attributes: dict[str, str]) -> None:
    settings = get_settings()
    room = rtc.Room()
    await room.connect(settings.livekit.url, token(settings, room_name, identity, agent=agent, attributes=attributes))
    source = rtc.AudioSource(16000, 1)
    track = rtc.LocalAudioTrack.create_audio_track("mic", source)
    await room.local_participant.publish_track(track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE))
    print("joined", flush=True)
    await asyncio.Event().wait()


async def signal_only(room_name: str, identity: str) -> None:
    settings = get_settings()
    tok = token(settings, room_name, identity, agent=False, attributes={})
    url = f"{settings.livekit.url}/rtc?access_token={tok}&protocol=15&sdk=python"
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await ws.receive()  # the join response: LiveKit lists the participant now
        print("joined", flush=True)
        await asyncio.Event().wait()


@dataclass
class RtcClient:
    """A running participant process."""

    proc: subprocess.Popen[str]
    identity: str

    def kill(self) -> None:
        """SIGKILL: no leave message reaches the server (a ghost)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


def start_client(
    room: str,
    identity: str,
    *,
    agent: bool = False,
    attributes: dict[str, str] | None = None,
    timeout: float = 30,
    signal: bool = False,
) -> RtcClient:
    """Start a participant process and wait (with a deadline) until it has joined."""
    args = [sys.executable, "-m", "tests.stack.recovery_rtc", room, identity]
    if agent:
        args.append("--agent")
    if signal:
        args.append("--signal-only")
    for key, value in (attributes or {}).items():
        args += ["--attr", f"{key}={value}"]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    line = ""
    while time.monotonic() < deadline and proc.poll() is None:
        line = proc.stdout.readline()  # blocks until the child prints or exits
        if line.strip() == "joined":
            return RtcClient(proc, identity)
    proc.kill()
    raise AssertionError(f"rtc participant {identity} did not join {room} (exit {proc.poll()}, last {line!r})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("room")
    parser.add_argument("identity")
    parser.add_argument("--agent", action="store_true")
    parser.add_argument("--attr", action="append", default=[])
    parser.add_argument("--signal-only", action="store_true")
    args = parser.parse_args()
    attributes = dict(a.split("=", 1) for a in args.attr)
    if args.signal_only:
        asyncio.run(signal_only(args.room, args.identity))
        return
    asyncio.run(join(args.room, args.identity, args.agent, attributes))


if __name__ == "__main__":
    main()
