"""espeak-ng TTS as a livekit-agents plugin: the Debian program, streamed from its stdout."""

from __future__ import annotations

import asyncio
import shutil
import struct

from livekit.agents import APIConnectionError, APIConnectOptions, tts, utils
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS

SAMPLE_RATE = 22050
WAV_HEADER_MIN = 44
READ_CHUNK = 4096


def find_espeak() -> str | None:
    """Path of the espeak-ng program, or None when it is not installed."""
    return shutil.which("espeak-ng")


def wav_data_offset(header: bytes) -> int | None:
    """Offset of the PCM samples in a streamed RIFF/WAVE header, or None if more bytes are needed."""
    if len(header) < 12:
        return None
    if header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        raise ValueError("espeak-ng did not write a WAV header")
    pos = 12
    while len(header) >= pos + 8:
        chunk_id, size = header[pos : pos + 4], struct.unpack("<I", header[pos + 4 : pos + 8])[0]
        if chunk_id == b"data":
            return pos + 8
        pos += 8 + size
    return None


class EspeakTTS(tts.TTS):
    """Offline text-to-speech with espeak-ng (22050 Hz mono, 16-bit)."""

    def __init__(self, *, voice: str = "en-us", rate: int = 165, binary: str | None = None) -> None:
        super().__init__(capabilities=tts.TTSCapabilities(streaming=False), sample_rate=SAMPLE_RATE, num_channels=1)
        self._voice = voice
        self._rate = rate
        self._binary = binary or find_espeak() or "espeak-ng"

    @property
    def model(self) -> str:
        return f"espeak-ng-{self._voice}"

    @property
    def provider(self) -> str:
        return "espeak-ng"

    def command(self) -> list[str]:
        """The espeak-ng command line; the text goes to stdin, never to argv."""
        return [self._binary, "--stdout", "-v", self._voice, "-s", str(self._rate)]

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        return _EspeakStream(tts=self, input_text=text, conn_options=conn_options)


class _EspeakStream(tts.ChunkedStream):
    def __init__(self, *, tts: EspeakTTS, input_text: str, conn_options: APIConnectOptions) -> None:
        super().__init__(tts=tts, input_text=input_text, conn_options=conn_options)
        self._espeak = tts

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        output_emitter.initialize(
            request_id=utils.shortuuid(), sample_rate=SAMPLE_RATE, num_channels=1, mime_type="audio/pcm"
        )
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._espeak.command(),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise APIConnectionError(f"cannot start espeak-ng: {exc}", retryable=False) from exc
        try:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(self.input_text.replace("\n", " ").encode() + b"\n")
            await proc.stdin.drain()
            proc.stdin.close()
            header = b""
            offset: int | None = None
            odd = b""
            while chunk := await proc.stdout.read(READ_CHUNK):
                if offset is None:
                    header += chunk
                    offset = wav_data_offset(header)
                    if offset is None:
                        continue
                    chunk = header[offset:]
                chunk = odd + chunk
                cut = len(chunk) - len(chunk) % 2
                chunk, odd = chunk[:cut], chunk[cut:]
                if chunk:
                    output_emitter.push(chunk)
            code = await proc.wait()
            if code != 0:
                err = (await proc.stderr.read()).decode(errors="replace") if proc.stderr else ""
                msg = f"espeak-ng exited with {code}: {err.strip()[:200]}"
                raise APIConnectionError(msg, retryable=False)
            output_emitter.flush()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
