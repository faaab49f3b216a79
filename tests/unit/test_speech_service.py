"""The speech service over HTTP with the real models: endpoints, the OpenAI plugin's own client, validation,
the key, size limits, streaming sentence by sentence, and what it never logs."""

from __future__ import annotations

import asyncio
import functools
import io
import json
import logging
import threading
import wave
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from livekit import rtc

from services.shared.audio import rms, to_mono_int16
from services.shared.settings import SpeechSettings
from services.speech.engine import load_engine
from services.speech.piper import PiperVoice
from services.speech.server import PCM_RATE, Engine, create_app
from tests.wav import wav_file

pytestmark = pytest.mark.unit
KEY = "speech-test-key-" + "k" * 24
AUTH = {"Authorization": f"Bearer {KEY}"}
QUESTION = "What is the capital of France?"


def speech_settings(**kw: Any) -> SpeechSettings:
    return SpeechSettings(api_key=KEY, threads=1, **kw)


@functools.cache
def engine() -> Engine:
    return load_engine(speech_settings(), cache=Path("/nonexistent"))  # tiny.en comes from its package


def run(test: Callable[[TestClient], Awaitable[None]], settings: SpeechSettings | None = None, eng=None) -> None:
    async def main() -> None:
        app = create_app(settings or speech_settings(), eng or engine())
        async with TestClient(TestServer(app)) as client:
            await test(client)

    asyncio.run(main())


@functools.cache
def question_wav() -> bytes:
    voice = engine().voice
    return wav_file(voice.synthesize(QUESTION), voice.sample_rate)


def form(file: bytes | None = None, **fields: str) -> aiohttp.FormData:
    data = aiohttp.FormData(default_to_multipart=True)
    for name, value in fields.items():
        data.add_field(name, value)
    if file is not None:
        data.add_field("file", file, filename="u.wav", content_type="audio/wav")
    return data


async def error_of(response: aiohttp.ClientResponse, status: int) -> dict[str, str]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    return await response.json()


# -- health, key --------------------------------------------------------------------------------------------


def test_health_needs_no_key_and_names_the_models() -> None:
    async def test(client: TestClient) -> None:
        response = await client.get("/healthz")
        assert response.status == 200
        assert await response.json() == {
            "status": "ok",
            "service": "speech",
            "stt": "tiny.en",
            "tts": engine().voice.name,
        }

    run(test)


@pytest.mark.parametrize("header", [None, "Bearer wrong-key", f"Basic {KEY}", KEY, "Bearer "])
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/audio/speech"), ("POST", "/v1/audio/transcriptions"), ("GET", "/metrics"), ("GET", "/v1/models")],
)
def test_every_route_but_health_refuses_without_the_key(header: str | None, method: str, path: str) -> None:
    async def test(client: TestClient) -> None:
        headers = {"Authorization": header} if header is not None else {}
        response = await client.request(method, path, headers=headers, json={"model": "piper", "input": "Hello."})
        body = await error_of(response, 401)
        assert body["field"] == "Authorization" and KEY not in json.dumps(body)
        assert response.headers["WWW-Authenticate"] == "Bearer"

    run(test)


def test_the_app_refuses_to_exist_without_a_key() -> None:
    with pytest.raises(ValueError, match="SPEECH_API_KEY"):
        create_app(SpeechSettings(api_key=None), engine())


def test_unknown_paths_and_methods_are_json() -> None:
    async def test(client: TestClient) -> None:
        assert (await error_of(await client.get("/v1/nothing", headers=AUTH), 404))["error"]
        assert (await error_of(await client.get("/v1/audio/speech", headers=AUTH), 405))["error"]

    run(test)


# -- transcriptions ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["whisper-1", "tiny.en", "whisper-tiny.en"])
def test_transcription_of_a_spoken_question(model: str) -> None:
    async def test(client: TestClient) -> None:
        response = await client.post("/v1/audio/transcriptions", headers=AUTH, data=form(question_wav(), model=model))
        assert response.status == 200, await response.text()
        text = (await response.json())["text"].lower()
        assert "capital" in text and "france" in text, text

    run(test)


def test_transcription_formats_text_and_verbose_json() -> None:
    async def test(client: TestClient) -> None:
        plain = await client.post(
            "/v1/audio/transcriptions",
            headers=AUTH,
            data=form(question_wav(), model="whisper-1", response_format="text"),
        )
        assert plain.content_type == "text/plain" and "france" in (await plain.text()).lower()
        verbose = await client.post(
            "/v1/audio/transcriptions",
            headers=AUTH,
            data=form(question_wav(), model="whisper-1", response_format="verbose_json", language="en"),
        )
        body = await verbose.json()
        assert body["language"] == "en" and 1.0 < body["duration"] < 5.0 and "france" in body["text"].lower()

    run(test)


def test_stereo_48k_audio_is_mixed_and_resampled() -> None:
    voice = engine().voice
    mono48 = to_mono_int16(voice.synthesize(QUESTION), voice.sample_rate, 1, 48000)
    stereo = bytes(b for i in range(0, len(mono48), 2) for b in mono48[i : i + 2] * 2)
    stereo_wav = wav_file(stereo, 48000, channels=2)

    async def test(client: TestClient) -> None:
        response = await client.post("/v1/audio/transcriptions", headers=AUTH, data=form(stereo_wav, model="tiny.en"))
        assert "france" in (await response.json())["text"].lower()

    run(test)


@pytest.mark.parametrize(
    ("fields", "file", "field"),
    [
        ({"model": "whisper-9"}, "wav", "model"),
        ({}, "wav", "model"),
        ({"model": "whisper-1"}, None, "file"),
        ({"model": "whisper-1"}, b"this is not audio at all", "file"),
        ({"model": "whisper-1", "language": "fr"}, "wav", "language"),
        ({"model": "whisper-1", "language": "english!"}, "wav", "language"),
        ({"model": "whisper-1", "response_format": "srt"}, "wav", "response_format"),
    ],
)
def test_bad_transcription_requests_name_the_field(fields: dict[str, str], file: Any, field: str) -> None:
    async def test(client: TestClient) -> None:
        data = form(question_wav() if file == "wav" else file, **fields)
        body = await error_of(await client.post("/v1/audio/transcriptions", headers=AUTH, data=data), 400)
        assert body["field"] == field and body["error"].startswith(f"{field}:")

    run(test)


def test_8_bit_wav_is_refused_with_the_reason() -> None:
    eight_bit = wav_file(bytes(16000), 16000, width=1)

    async def test(client: TestClient) -> None:
        data = form(eight_bit, model="whisper-1")
        body = await error_of(await client.post("/v1/audio/transcriptions", headers=AUTH, data=data), 400)
        assert body["field"] == "file" and "16-bit" in body["error"]

    run(test)


def test_transcription_needs_a_multipart_form() -> None:
    async def test(client: TestClient) -> None:
        response = await client.post("/v1/audio/transcriptions", headers=AUTH, json={"model": "whisper-1"})
        assert (await error_of(response, 415))["field"] == "body"

    run(test)


def test_a_large_upload_is_a_413_naming_the_file() -> None:
    async def test(client: TestClient) -> None:
        big = wav_file(bytes(16000 * 2 * 3), 16000)  # 3 s of silence, 96 kB
        response = await client.post("/v1/audio/transcriptions", headers=AUTH, data=form(big, model="whisper-1"))
        body = await error_of(response, 413)
        assert body["field"] == "file" and "8192 bytes" in body["error"]

    run(test, speech_settings(max_upload_bytes=8192))


def test_audio_longer_than_the_limit_is_refused() -> None:
    async def test(client: TestClient) -> None:
        long = wav_file(bytes(8000 * 2 * 3), 8000)
        response = await client.post("/v1/audio/transcriptions", headers=AUTH, data=form(long, model="whisper-1"))
        body = await error_of(response, 400)
        assert body["field"] == "file" and "at most 2 s" in body["error"]

    run(test, speech_settings(max_audio_seconds=2))


# -- speech ------------------------------------------------------------------------------------------------


def test_speech_is_24k_pcm_that_whisper_understands() -> None:
    async def test(client: TestClient) -> None:
        response = await client.post("/v1/audio/speech", headers=AUTH, json={"model": "piper", "input": QUESTION})
        assert response.status == 200 and response.content_type == "audio/pcm"
        assert response.headers["X-Sample-Rate"] == str(PCM_RATE) and len(response.headers["X-Request-Id"]) == 16
        pcm = await response.read()
        assert 1.0 < len(pcm) / 2 / PCM_RATE < 5.0 and rms(pcm) > 300
        heard = engine().whisper.transcribe(to_mono_int16(pcm, PCM_RATE, 1, 16000)).lower()
        assert "capital" in heard and "france" in heard, heard

    run(test)


def test_speech_as_wav_has_a_header_at_the_voice_rate() -> None:
    async def test(client: TestClient) -> None:
        body = {"model": "tts-1", "voice": "alloy", "input": "Hello there.", "response_format": "wav"}
        response = await client.post("/v1/audio/speech", headers=AUTH, json=body)
        data = await response.read()
        assert response.content_type == "audio/wav" and data[:4] == b"RIFF" and data[8:12] == b"WAVE"
        with wave.open(io.BytesIO(data)) as w:
            assert w.getframerate() == engine().voice.sample_rate and w.getnchannels() == 1
            assert rms(w.readframes(w.getnframes())) > 300

    run(test)


class GatedVoice:
    """The real voice, but every sentence after the first waits for the test to open the gate."""

    def __init__(self, voice: PiperVoice) -> None:
        self._voice = voice
        self.sample_rate, self.name = voice.sample_rate, voice.name
        self.gate = threading.Event()
        self.calls: list[str] = []

    def synthesize(self, text: str, speed: float = 1.0) -> bytes:
        self.calls.append(text)
        if len(self.calls) > 1 and not self.gate.wait(timeout=60):
            raise TimeoutError("gate never opened")
        return self._voice.synthesize(text, speed)


def gated_engine(voice: GatedVoice, settings: SpeechSettings) -> Engine:
    from services.speech.pools import Admission, PriorityPool

    base = engine()
    return Engine(
        whisper=base.whisper,
        voice=voice,  # type: ignore[arg-type]
        stt_pool=base.stt_pool,
        tts_pool=PriorityPool("tts-test", 1),
        stt_admission=Admission(settings.queue_limit),
        tts_admission=Admission(settings.queue_limit),
    )


def test_the_first_sentence_is_sent_before_the_next_is_synthesised() -> None:
    voice = GatedVoice(engine().voice)
    settings = speech_settings()

    async def test(client: TestClient) -> None:
        text = "The capital of France is Paris. It is on the Seine. Many people visit it."
        response = await client.post("/v1/audio/speech", headers=AUTH, json={"model": "piper", "input": text})
        assert response.status == 200
        first = await asyncio.wait_for(response.content.readany(), 30)  # the gate is still shut
        assert first and len(voice.calls) <= 2
        voice.gate.set()
        rest = await response.read()
        assert voice.calls == ["The capital of France is Paris.", "It is on the Seine.", "Many people visit it."]
        assert len(first) + len(rest) > 3 * PCM_RATE  # over 1.5 s of audio in all

    run(test, settings, gated_engine(voice, settings))


def test_more_requests_than_admitted_get_a_503() -> None:
    voice = GatedVoice(engine().voice)
    settings = speech_settings(queue_limit=1)

    async def test(client: TestClient) -> None:
        body = {"model": "piper", "input": "One sentence. And another one."}
        held = await client.post("/v1/audio/speech", headers=AUTH, json=body)
        await asyncio.wait_for(held.content.readany(), 30)
        refused = await client.post("/v1/audio/speech", headers=AUTH, json=body)
        assert (await error_of(refused, 503))["error"] and refused.headers["Retry-After"] == "1"
        voice.gate.set()
        assert len(await held.read()) > 0

    run(test, settings, gated_engine(voice, settings))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "piper"}, "input"),
        ({"model": "piper", "input": "   "}, "input"),
        ({"model": "piper", "input": 42}, "input"),
        ({"input": "Hi."}, "model"),
        ({"model": "espeak", "input": "Hi."}, "model"),
        ({"model": "piper", "input": "Hi.", "voice": "nobody"}, "voice"),
        ({"model": "piper", "input": "Hi.", "speed": 9}, "speed"),
        ({"model": "piper", "input": "Hi.", "speed": "fast"}, "speed"),
        ({"model": "piper", "input": "Hi.", "response_format": "mp3"}, "response_format"),
        ({"model": "piper", "input": "Hi.", "stream_format": "ws"}, "stream_format"),
        (["not", "an", "object"], "body"),
    ],
)
def test_bad_speech_requests_name_the_field(body: Any, field: str) -> None:
    async def test(client: TestClient) -> None:
        answer = await error_of(await client.post("/v1/audio/speech", headers=AUTH, json=body), 400)
        assert answer["field"] == field

    run(test)


def test_speech_body_must_be_json() -> None:
    async def test(client: TestClient) -> None:
        response = await client.post("/v1/audio/speech", headers=AUTH, data=b"{not json")
        assert (await error_of(response, 400))["field"] == "body"

    run(test)


def test_long_input_and_huge_bodies_are_413_json() -> None:
    async def test(client: TestClient) -> None:
        long = await client.post("/v1/audio/speech", headers=AUTH, json={"model": "piper", "input": "a" * 101})
        assert (await error_of(long, 413))["field"] == "input"
        huge = await client.post("/v1/audio/speech", headers=AUTH, data=b"x" * (2 * 1024 * 1024))
        assert (await error_of(huge, 413))["field"] == "body"

    run(test, speech_settings(max_input_chars=100))


def test_metrics_count_requests_behind_the_key() -> None:
    async def test(client: TestClient) -> None:
        await client.post("/v1/audio/speech", headers=AUTH, json={"model": "piper", "input": "Hi."})
        text = await (await client.get("/metrics", headers=AUTH)).text()
        assert 'lvs_speech_requests_total{route="speech",status="200"}' in text
        assert "lvs_speech_tts_first_audio_seconds_count" in text

    run(test)


def test_logs_never_hold_the_key_or_the_words(caplog: pytest.LogCaptureFixture) -> None:
    secret_words = "Zanzibar pelican marmalade."

    async def test(client: TestClient) -> None:
        await client.post("/v1/audio/speech", headers=AUTH, json={"model": "piper", "input": secret_words})
        await client.post("/v1/audio/speech", headers={"Authorization": "Bearer not-it"}, json={"input": "x"})
        await client.post("/v1/audio/transcriptions", headers=AUTH, data=form(question_wav(), model="whisper-1"))

    with caplog.at_level(logging.DEBUG):
        run(test)
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "request" in logged and "spoke" in logged and "transcribed" in logged
    for leak in (KEY, "not-it", "Zanzibar", "France", "capital"):
        assert leak not in logged


# -- the agent's client: livekit-plugins-openai against the service -------------------------------------------


def test_the_openai_plugin_speaks_and_hears_through_the_service() -> None:
    from livekit.plugins import openai

    async def test(client: TestClient) -> None:
        base = str(client.make_url("/v1"))
        tts = openai.TTS(model="piper", voice="joe", response_format="pcm", api_key=KEY, base_url=base)
        stt = openai.STT(model="tiny.en", language="en", api_key=KEY, base_url=base)
        try:
            frames = [ev.frame async for ev in tts.synthesize(QUESTION)]
            speech = rtc.combine_audio_frames(frames)
            assert speech.sample_rate == PCM_RATE and 1.0 < speech.duration < 5.0
            event = await stt.recognize([speech])
            text = event.alternatives[0].text.lower()
            assert "capital" in text and "france" in text, text
        finally:
            await tts.aclose()
            await stt.aclose()

    run(test)


def test_the_openai_plugin_reports_a_wrong_key_as_an_error() -> None:
    from livekit.agents import APIConnectOptions, APIError
    from livekit.plugins import openai

    async def test(client: TestClient) -> None:
        base = str(client.make_url("/v1"))
        tts = openai.TTS(model="piper", voice="joe", response_format="pcm", api_key="wrong", base_url=base)
        try:
            with pytest.raises(APIError):
                _ = [ev async for ev in tts.synthesize("Hello.", conn_options=APIConnectOptions(max_retry=0))]
        finally:
            await tts.aclose()

    run(test)


def test_the_agents_tts_speaks_the_first_clause_while_the_reply_is_still_being_written() -> None:
    from livekit.plugins import openai

    from services.agent.providers import speak_from_first_clause

    async def test(client: TestClient) -> None:
        base = str(client.make_url("/v1"))
        engine = openai.TTS(model="piper", voice="joe", response_format="pcm", api_key=KEY, base_url=base)
        voice = speak_from_first_clause(engine)
        assert voice.capabilities.streaming  # the session will not wrap it in its whole-sentence tokenizer
        try:
            async with voice.stream() as stream:
                for word in ["The", "capital", "of", "France", "is", "Paris,", "a"]:
                    stream.push_text(word + " ")
                # No sentence end yet and no end of input: audio comes from the first clause alone.
                first = await asyncio.wait_for(stream.__anext__(), timeout=30)
                assert first.frame.samples_per_channel > 0
                stream.push_text("city on the Seine.")
                stream.end_input()
                rest = [ev.frame async for ev in stream]
            assert rtc.combine_audio_frames([first.frame, *rest]).duration > 1.5
        finally:
            await voice.aclose()

    run(test)
