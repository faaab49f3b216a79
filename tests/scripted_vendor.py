"""A scripted OpenAI-compatible cloud vendor (chat, transcription, speech) at its HTTP boundary, instant.

The test double of a paid speech-and-LLM vendor for the remote capacity bench (never in `make up`). One base
URL, like OpenAI's, serves what the stack sends there with OPENAI_BASE_URL, AGENT_STT=openai, AGENT_TTS=openai:
- `POST /v1/chat/completions` (Letta): the reply of tests/scripted_llm.py ("Noted."), streamed word by word
  (with a usage chunk when `stream_options.include_usage` asks for it) or whole.
- `POST /v1/audio/transcriptions` (livekit-plugins-openai's STT, multipart): TRANSCRIPT, as json,
  verbose_json or text.
- `POST /v1/audio/speech` (its TTS): CLIP_S of speech-like audio (a voice's harmonics under a syllable
  envelope), 24 kHz mono like OpenAI's, as pcm, wav or mp3, streamed raw (`stream_format=audio`) or as OpenAI's
  server-sent events (`stream_format=sse`: base64 `speech.audio.delta` events, then `speech.audio.done`).
- `GET /v1/models`, and `GET /_stats`: requests answered per route (and paths it does not serve).
HTTP/1.1 keep-alive, a thread per connection and every answer precomputed: sessions never queue on it.
Bad requests get OpenAI's error JSON naming the field (`param`).

Alone: .stack/venv/bin/python -m tests.scripted_vendor [--port N] [--url-file PATH]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from tests.scripted_llm import MODEL, completion, completion_chunks, reply_for
from tests.wav import wav_file

TRANSCRIPT = "What is the weather like today?"
RATE = 24000  # OpenAI's speech: 24 kHz mono int16
CLIP_S = 1.0
CHUNK_S = 0.1  # raw audio is streamed in pieces of this length
SPEECH_FORMATS = ("pcm", "wav", "mp3")
TRANSCRIPTION_FORMATS = ("json", "verbose_json", "text")
CONTENT_TYPES = {"pcm": "audio/pcm", "wav": "audio/wav", "mp3": "audio/mpeg"}


def speech_pcm(seconds: float = CLIP_S, rate: int = RATE) -> bytes:
    """Speech-like int16 mono PCM: harmonics of a ~120 Hz voice with a gliding pitch, at 4 syllables per second.

    Loud from its first 20 ms (a caller measuring the first audible frame hears it at once), never silent."""
    t = np.arange(int(seconds * rate)) / rate
    pitch = 120.0 * (1 + 0.08 * np.sin(2 * np.pi * 1.5 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 9))
    syllables = 0.4 + 0.6 * np.abs(np.cos(np.pi * 4 * t))
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.005)
    signal = voice / np.max(np.abs(voice)) * syllables * fade * 9000
    return signal.astype("<i2").tobytes()


def encode(pcm: bytes, fmt: str, rate: int = RATE) -> bytes:
    """The PCM as a `response_format`: raw pcm, a WAV file, or MP3 (PyAV's libmp3lame, as livekit decodes it)."""
    if fmt == "pcm":
        return pcm
    if fmt == "wav":
        return wav_file(pcm, rate)
    if fmt != "mp3":
        raise ValueError(f"unknown format {fmt}")
    import av  # livekit-agents' own dependency (it decodes the vendor's mp3 with it)

    out = io.BytesIO()

    with av.open(out, "w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.frombuffer(pcm, "<i2").reshape(1, -1), format="s16p", layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return out.getvalue()


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


def multipart_fields(content_type: str, body: bytes) -> dict[str, bytes]:
    """The parts of a multipart/form-data body by field name (file contents as bytes)."""
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    if not message.is_multipart():
        return {}
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            fields[name] = part.get_payload(decode=True) or b""
    return fields


class BadRequest(ValueError):
    """A request the vendor refuses: OpenAI's error JSON naming the field."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param

    def body(self) -> dict[str, Any]:
        return {"error": {"message": str(self), "type": "invalid_request_error", "param": self.param, "code": None}}


class Vendor:
    """What the double answers, precomputed, and what it was asked (thread-safe counts)."""

    def __init__(self) -> None:
        pcm = speech_pcm()
        self.clips = {fmt: encode(pcm, fmt) for fmt in SPEECH_FORMATS}
        self.stats: Counter[str] = Counter()
        self._lock = threading.Lock()

    def count(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.stats)


def parse_speech(body: Any) -> tuple[str, str]:
    """(response_format, stream_format) of a speech request, checked; OpenAI's defaults are mp3 and audio."""
    if not isinstance(body, dict):
        raise BadRequest("body", "must be a JSON object")
    if not isinstance(body.get("input"), str) or not body["input"].strip():
        raise BadRequest("input", "is required: the text to speak")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise BadRequest("model", "is required")
    fmt = body.get("response_format") or "mp3"
    if fmt not in SPEECH_FORMATS:
        raise BadRequest("response_format", f"must be one of {', '.join(SPEECH_FORMATS)} (this double)")
    stream = body.get("stream_format") or "audio"
    if stream not in ("audio", "sse"):
        raise BadRequest("stream_format", "must be audio or sse")
    return fmt, stream


def parse_transcription(fields: dict[str, bytes]) -> str:
    """The response_format of a transcription request, checked."""
    if not fields.get("file"):
        raise BadRequest("file", "is required: the audio to transcribe")
    if not fields.get("model"):
        raise BadRequest("model", "is required")
    fmt = (fields.get("response_format") or b"json").decode()
    if fmt not in TRANSCRIPTION_FORMATS:
        raise BadRequest("response_format", f"must be one of {', '.join(TRANSCRIPTION_FORMATS)}")
    return fmt


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a cloud vendor's API
    server_version = "scripted-vendor/1"
    vendor: Vendor

    def log_message(self, *args: Any) -> None:  # quiet: the bench reads /_stats instead
        pass

    def _start(self, status: int, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("x-request-id", f"req_{uuid.uuid4().hex[:16]}")  # as OpenAI's, read by the plugins

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self._start(status, content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def _stream(self, content_type: str, chunks: list[bytes]) -> None:
        self._start(200, content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in chunks:
            if chunk:
                self.wfile.write(f"{len(chunk):X}\r\n".encode() + chunk + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/_stats":
            self._json(200, self.vendor.snapshot())
        elif path.endswith("/models"):
            self.vendor.count("models")
            self._json(200, {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "test"}]})
        else:
            self.vendor.count(f"unknown GET {path}")
            self._json(404, BadRequest("path", f"{path} is not served by this double").body())

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length")
        if length is None:
            self.close_connection = True
            self._json(411, BadRequest("Content-Length", "is required").body())
            return
        body = self.rfile.read(int(length))
        path = self.path.split("?", 1)[0].rstrip("/")
        routes = {
            "/chat/completions": self._chat,
            "/audio/transcriptions": self._transcribe,
            "/audio/speech": self._speak,
        }
        route = next((name for name in routes if path.endswith(name)), None)
        if route is None:
            self.vendor.count(f"unknown POST {path}")
            self._json(404, BadRequest("path", f"{path} is not served by this double").body())
            return
        self.vendor.count(route.rsplit("/", 1)[1])  # before answering: a client may read the counts right after
        try:
            routes[route](body)
        except BadRequest as error:
            self.vendor.count(f"400 {route.rsplit('/', 1)[1]}")
            self._json(400, error.body())

    def _chat(self, body: bytes) -> None:
        try:
            request = json.loads(body or b"{}")
        except json.JSONDecodeError:
            raise BadRequest("body", "must be JSON") from None
        if not isinstance(request, dict) or not isinstance(request.get("messages"), list):
            raise BadRequest("messages", "is required: a list of messages")
        text = reply_for(request["messages"])
        if not request.get("stream"):
            self._json(200, completion(text))
            return
        chunks = completion_chunks(text)
        if (request.get("stream_options") or {}).get("include_usage"):
            usage = {"prompt_tokens": 1, "completion_tokens": len(chunks) - 1, "total_tokens": len(chunks)}
            chunks.append({**chunks[-1], "choices": [], "usage": usage})
        events = [f"data: {json.dumps(chunk)}\n\n".encode() for chunk in chunks]
        self._stream("text/event-stream", [*events, b"data: [DONE]\n\n"])

    def _transcribe(self, body: bytes) -> None:
        fmt = parse_transcription(multipart_fields(self.headers.get("Content-Type", ""), body))
        if fmt == "text":
            self._send(200, TRANSCRIPT.encode(), "text/plain")
        elif fmt == "verbose_json":
            self._json(200, {"text": TRANSCRIPT, "language": "english", "duration": 1.0, "segments": []})
        else:
            self._json(200, {"text": TRANSCRIPT, "usage": {"type": "duration", "seconds": 1}})

    def _speak(self, body: bytes) -> None:
        try:
            request = json.loads(body or b"null")
        except json.JSONDecodeError:
            raise BadRequest("body", "must be JSON") from None
        fmt, stream = parse_speech(request)
        clip = self.vendor.clips[fmt]
        size = max(1, round(len(clip) * CHUNK_S / CLIP_S))
        if stream == "audio":
            self._stream(CONTENT_TYPES[fmt], pieces(clip, size))
            return
        events = [{"type": "speech.audio.delta", "audio": base64.b64encode(p).decode()} for p in pieces(clip, size)]
        tokens = len(request["input"].split())
        usage = {"input_tokens": tokens, "output_tokens": len(events), "total_tokens": tokens + len(events)}
        events.append({"type": "speech.audio.done", "usage": usage})
        self._stream("text/event-stream", [f"data: {json.dumps(e)}\n\n".encode() for e in events])


class VendorServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a ramp's sessions connect at once


def make_server(port: int = 0) -> tuple[VendorServer, Vendor]:
    """A server on loopback (port 0: a free one) and its vendor state; call serve_forever() to run it."""
    vendor = Vendor()
    handler = type("Handler", (_Handler,), {"vendor": vendor})
    return VendorServer(("127.0.0.1", port), handler), vendor


@contextmanager
def scripted_vendor() -> Iterator[tuple[str, Vendor]]:
    """Serve in a thread on a free loopback port; yields (base URL ending in /v1, the vendor's state)."""
    server, vendor = make_server()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", vendor
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0, help="loopback port (default: a free one)")
    parser.add_argument("--url-file", type=Path, help="write the base URL here once serving (atomically)")
    args = parser.parse_args()
    server, _ = make_server(args.port)
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    if args.url_file:
        tmp = args.url_file.with_suffix(".tmp")
        tmp.write_text(url)
        os.replace(tmp, args.url_file)
    print(f"scripted vendor at {url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
