"""The speech service's HTTP app: OpenAI-compatible `POST /v1/audio/transcriptions` and `/v1/audio/speech`.

Every route but `/healthz` needs ``Authorization: Bearer <SPEECH_API_KEY>``. Bad input is a 4xx JSON body
naming the field; bodies, texts and keys are never logged.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import BodyPartReader, web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.shared.audio import to_mono_int16
from services.shared.logging import log_context
from services.shared.settings import SpeechSettings
from services.speech import metrics
from services.speech.piper import PiperVoice
from services.speech.pools import FIRST, LATER, Admission, Busy, PriorityPool
from services.speech.requests import RequestError, parse_speech, parse_transcription, stt_models
from services.speech.text import sentences
from services.speech.wav import WavError, read_wav, wav_header
from services.speech.whisper import SAMPLE_RATE as STT_RATE
from services.speech.whisper import WhisperModel

log = logging.getLogger("lvs.speech")
PCM_RATE = 24000  # OpenAI's "pcm": 24 kHz mono signed 16-bit little-endian (what livekit-plugins-openai plays)
FORM_FIELDS = frozenset({"model", "language", "response_format", "prompt", "temperature"})
FIELD_LIMIT = 4096  # bytes of one form field other than the file
OPEN_PATHS = frozenset({"/healthz"})


@dataclass
class Engine:
    """The loaded models and their queues."""

    whisper: WhisperModel
    voice: PiperVoice
    stt_pool: PriorityPool
    tts_pool: PriorityPool
    stt_admission: Admission
    tts_admission: Admission

    def close(self) -> None:
        self.stt_pool.shutdown()
        self.tts_pool.shutdown()


ENGINE = web.AppKey("engine", Engine)
SETTINGS = web.AppKey("settings", SpeechSettings)
REQUEST_ID = web.RequestKey("request_id", str)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error(status: int, message: str, field: str | None = None, **headers: str) -> web.Response:
    body: dict[str, str] = {"error": message}
    if field:
        body["field"] = field
    return web.json_response(body, status=status, headers=headers or None)


def authorized(request: web.Request, key: str) -> bool:
    given = request.headers.get("Authorization", "")
    scheme, _, token = given.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), key.encode())


def route_of(request: web.Request) -> str:
    info = request.match_info.route.resource
    return metrics.route_label(info.name if info is not None and info.name else "")


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Key check, JSON errors for everything, one log line and one metric per request."""
    started = time.monotonic()
    route = route_of(request)
    request_id = uuid.uuid4().hex[:16]
    request[REQUEST_ID] = request_id
    with log_context(request_id=request_id):
        try:
            if request.path not in OPEN_PATHS and not authorized(
                request,
                request.app[SETTINGS].api_key.get_secret_value(),  # type: ignore[union-attr]
            ):
                response: web.StreamResponse = error(
                    401,
                    "missing or wrong API key (Authorization: Bearer)",
                    "Authorization",
                    **{"WWW-Authenticate": "Bearer"},
                )
            else:
                response = await handler(request)
        except RequestError as bad:
            response = web.json_response(bad.body(), status=bad.status)
        except Busy:
            response = error(503, "the speech service is busy: try again", None, **{"Retry-After": "1"})
        except web.HTTPException as http:  # 404, 405, 413 from aiohttp itself: JSON like ours
            field = "body" if http.status == 413 else None
            response = error(http.status, http.reason, field)
        except Exception as failure:  # a model failed: the type only (never the text it was given)
            log.error("request failed", extra={"route": route, "error": type(failure).__name__})
            response = error(500, "the speech model failed on this request")
        if not response.prepared:  # a streamed reply set it before its headers went out
            response.headers["X-Request-Id"] = request_id  # what OpenAI clients report as the request id
        metrics.REQUESTS.labels(route, str(response.status)).inc()
        if route != "healthz":
            log.info(
                "request",
                extra={"route": route, "status": response.status, "seconds": round(time.monotonic() - started, 3)},
            )
        return response


async def healthz(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    return web.json_response(
        {"status": "ok", "service": "speech", "stt": engine.whisper.name, "tts": engine.voice.name}
    )


async def metrics_view(_: web.Request) -> web.Response:
    return web.Response(body=generate_latest(metrics.REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def models(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    names = [*stt_models(engine.whisper.name), "piper"]
    return web.json_response({"object": "list", "data": [{"id": n, "object": "model"} for n in names]})


async def _read_part(part: BodyPartReader, limit: int, field: str) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(64 * 1024):
        data += chunk
        if len(data) > limit:
            raise RequestError(field, f"is larger than {limit} bytes", status=413)
    return bytes(data)


async def read_form(request: web.Request, max_file: int) -> tuple[dict[str, str], bytes | None]:
    """The form fields and the file of a multipart upload, each bounded (413 beyond)."""
    if request.content_length is not None and request.content_length > max_file + 64 * FIELD_LIMIT:
        raise RequestError("file", f"is larger than {max_file} bytes", status=413)
    if not request.content_type.startswith("multipart/form-data"):
        raise RequestError("body", "must be multipart/form-data with a 'file' part", status=415)
    fields: dict[str, str] = {}
    audio: bytes | None = None
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise RequestError("body", "nested multipart is not accepted")
        name = part.name or ""
        if name == "file":
            audio = await _read_part(part, max_file, "file")
        elif name in FORM_FIELDS:
            raw = await _read_part(part, FIELD_LIMIT, name)
            fields[name] = raw.decode("utf-8", errors="replace")
        else:
            await part.release()  # unknown fields (OpenAI adds new ones) are skipped, not read into memory
    return fields, audio


async def transcriptions(request: web.Request) -> web.Response:
    settings, engine = request.app[SETTINGS], request.app[ENGINE]
    fields, audio = await read_form(request, settings.max_upload_bytes)
    spec = parse_transcription(fields, engine.whisper.name, engine.whisper.english_only)
    if not audio:
        raise RequestError("file", "is required: a 16-bit PCM WAV file")
    try:
        pcm, seconds = read_wav(audio, STT_RATE, settings.max_audio_seconds)
    except WavError as bad:
        raise RequestError("file", str(bad)) from None
    started = time.monotonic()
    with engine.stt_admission:
        metrics.ACTIVE.labels("stt").set(engine.stt_admission.active)
        future = engine.stt_pool.submit(FIRST, engine.whisper.transcribe, pcm, spec.language)
        try:
            text = await asyncio.wrap_future(future)
        finally:
            future.cancel()
    metrics.STT_SECONDS.observe(time.monotonic() - started)
    metrics.AUDIO_SECONDS.labels("stt").inc(seconds)
    log.info("transcribed", extra={"audio_seconds": round(seconds, 2), "seconds": round(time.monotonic() - started, 3)})
    if spec.response_format == "text":
        return web.Response(text=text + "\n", content_type="text/plain")
    if spec.response_format == "verbose_json":
        body = {"task": "transcribe", "language": spec.language or "en", "duration": seconds, "text": text}
        return web.json_response({**body, "segments": []})
    return web.json_response({"text": text})


async def _json_body(request: web.Request) -> object:
    raw = await request.read()  # bounded by the app's client_max_size (413 beyond)
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise RequestError("body", "must be a JSON object") from None


async def speech(request: web.Request) -> web.StreamResponse:
    """Speak ``input`` sentence by sentence: each sentence's audio is sent as soon as it is synthesised."""
    settings, engine = request.app[SETTINGS], request.app[ENGINE]
    spec = parse_speech(await _json_body(request), settings.max_input_chars)
    voice, pool = engine.voice, engine.tts_pool
    pieces = sentences(spec.input)
    rate = PCM_RATE if spec.response_format == "pcm" else voice.sample_rate

    def submit(i: int):  # the first sentence of a reply goes ahead of later sentences of any other
        return pool.submit(FIRST if i == 0 else LATER, voice.synthesize, pieces[i], spec.speed)

    def encode(pcm: bytes) -> bytes:
        return to_mono_int16(pcm, voice.sample_rate, 1, rate) if rate != voice.sample_rate else pcm

    started = time.monotonic()
    with engine.tts_admission:
        metrics.ACTIVE.labels("tts").set(engine.tts_admission.active)
        pending = submit(0) if pieces else None
        try:
            # The first sentence before the headers: a failure there is still a JSON 500.
            first = await asyncio.wrap_future(pending) if pending else b""
            pending = submit(1) if len(pieces) > 1 else None
            metrics.TTS_FIRST_AUDIO.observe(time.monotonic() - started)
            response = web.StreamResponse(
                headers={"Content-Type": "audio/pcm" if spec.response_format == "pcm" else "audio/wav"}
            )
            response.headers["X-Sample-Rate"] = str(rate)
            response.headers["X-Request-Id"] = request[REQUEST_ID]
            response.enable_chunked_encoding()
            await response.prepare(request)
            if spec.response_format == "wav":
                await response.write(wav_header(rate))
            samples = len(first) // 2
            try:
                await response.write(encode(first))
                for i in range(1, len(pieces)):
                    assert pending is not None
                    current = pending
                    pending = submit(i + 1) if i + 1 < len(pieces) else None
                    pcm = await asyncio.wrap_future(current)
                    samples += len(pcm) // 2
                    if pcm:
                        await response.write(encode(pcm))
                await response.write_eof()
            except ConnectionResetError:  # the client went away (an interrupted reply): nothing more to send
                log.info("client left during speech", extra={"audio_seconds": round(samples / voice.sample_rate, 2)})
                return response
            except Exception as failure:  # headers are sent: the reply ends short (the type only is logged)
                log.error("speech failed mid-reply", extra={"error": type(failure).__name__})
                return response
        finally:
            if pending is not None:
                pending.cancel()
    metrics.AUDIO_SECONDS.labels("tts").inc(samples / voice.sample_rate)
    log.info(
        "spoke",
        extra={
            "sentences": len(pieces),
            "chars": len(spec.input),
            "audio_seconds": round(samples / voice.sample_rate, 2),
            "seconds": round(time.monotonic() - started, 3),
        },
    )
    return response


def create_app(settings: SpeechSettings, engine: Engine) -> web.Application:
    """The HTTP app around loaded models (the key must be set: `serve` refuses to start without it)."""
    if settings.api_key is None or not settings.api_key.get_secret_value():
        raise ValueError("SPEECH_API_KEY is empty")
    app = web.Application(client_max_size=4 * settings.max_input_chars + 64 * 1024, middlewares=[guard])
    app[SETTINGS] = settings
    app[ENGINE] = engine
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/metrics", metrics_view, name="metrics")
    app.router.add_get("/v1/models", models, name="models")
    app.router.add_post("/v1/audio/transcriptions", transcriptions, name="transcriptions")
    app.router.add_post("/v1/audio/speech", speech, name="speech")
    return app
