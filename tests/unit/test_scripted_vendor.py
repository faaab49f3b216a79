"""The scripted cloud vendor (tests/scripted_vendor.py) speaks the contract livekit-plugins-openai and the openai
client expect, answers bad requests with the field named, and never makes one client wait for another."""

from __future__ import annotations

import asyncio
import io
import socket
import wave
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import openai
import pytest
from livekit import rtc
from livekit.plugins import openai as lk_openai

from services.agent.probe import SPEECH_RMS
from services.shared.audio import rms
from tests.scripted_vendor import CLIP_S, RATE, TRANSCRIPT, encode, scripted_vendor, speech_pcm

pytestmark = pytest.mark.unit


def decoded_samples(data: bytes, fmt: str) -> np.ndarray:
    """int16 mono samples of an encoded clip."""
    if fmt == "pcm":
        return np.frombuffer(data, "<i2")
    if fmt == "wav":
        with wave.open(io.BytesIO(data)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (RATE, 1, 2)
            return np.frombuffer(w.readframes(w.getnframes()), "<i2")
    import av

    with av.open(io.BytesIO(data)) as container:
        assert container.streams.audio[0].rate == RATE
        frames = [f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]
    return (np.concatenate(frames) * 32767).astype("<i2") if frames[0].dtype.kind == "f" else np.concatenate(frames)


def test_the_clip_is_a_second_of_speech_like_audio_loud_from_its_first_frame() -> None:
    pcm = speech_pcm()
    assert len(pcm) == round(CLIP_S * RATE) * 2
    frame = RATE // 50 * 2  # 20 ms, the probe caller's frame
    levels = [rms(pcm[i : i + frame]) for i in range(0, len(pcm) - frame + 1, frame)]
    assert min(levels) > SPEECH_RMS, "a frame the probe caller would hear as silence"
    assert max(levels) > 1.8 * min(levels), "no syllables: a flat tone"


@pytest.mark.parametrize("fmt", ["pcm", "wav", "mp3"])
def test_every_response_format_holds_the_same_second(fmt: str) -> None:
    samples = decoded_samples(encode(speech_pcm(), fmt), fmt)
    assert abs(len(samples) / RATE - CLIP_S) < 0.1, len(samples)
    assert rms(samples.astype("<i2").tobytes()) > 1000


async def _plugin_round_trip(url: str, tts: lk_openai.TTS) -> tuple[int, str]:
    samples = 0
    async with tts.synthesize("Noted.") as stream:
        async for event in stream:
            assert event.frame.sample_rate == RATE
            samples += event.frame.samples_per_channel
    stt = lk_openai.STT(api_key="sk-scripted", base_url=url)
    heard = await stt.recognize([rtc.AudioFrame(bytes(32000), 16000, 1, 16000)])
    await asyncio.gather(stt.aclose(), tts.aclose())
    return samples, heard.alternatives[0].text


@pytest.mark.parametrize(
    "options",
    [{}, {"model": "tts-1", "response_format": "pcm"}, {"response_format": "wav"}],
    ids=["cloud default (mp3 over sse)", "raw pcm stream", "wav over sse"],
)
def test_the_livekit_openai_plugins_hear_a_transcript_and_get_a_second_of_speech(options: dict[str, str]) -> None:
    with scripted_vendor() as (url, vendor):
        tts = lk_openai.TTS(api_key="sk-scripted", base_url=url, **options)
        samples, text = asyncio.run(_plugin_round_trip(url, tts))
        assert vendor.snapshot() == {"speech": 1, "transcriptions": 1}
    assert text == TRANSCRIPT
    assert abs(samples / RATE - CLIP_S) < 0.1, samples


def test_chat_streams_the_scripted_reply_with_usage_and_answers_whole() -> None:
    with scripted_vendor() as (url, vendor):
        client = openai.OpenAI(api_key="sk-scripted", base_url=url, max_retries=0)
        messages = [{"role": "user", "content": "hello"}]
        chunks = list(
            client.chat.completions.create(
                model="scripted-llm", messages=messages, stream=True, stream_options={"include_usage": True}
            )
        )
        whole = client.chat.completions.create(model="scripted-llm", messages=messages)
        assert vendor.snapshot() == {"completions": 2}
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip() == "Noted."
    assert chunks[-1].usage is not None and not chunks[-1].choices
    assert whole.choices[0].message.content == "Noted."


@pytest.mark.parametrize(
    ("path", "request_kwargs", "status", "param"),
    [
        ("/audio/speech", {"json": {"model": "tts-1"}}, 400, "input"),
        ("/audio/speech", {"json": {"input": "hi"}}, 400, "model"),
        (
            "/audio/speech",
            {"json": {"input": "hi", "model": "tts-1", "response_format": "opus"}},
            400,
            "response_format",
        ),
        ("/audio/speech", {"json": {"input": "hi", "model": "tts-1", "stream_format": "ws"}}, 400, "stream_format"),
        ("/audio/speech", {"content": b"not json"}, 400, "body"),
        ("/audio/transcriptions", {"data": {"model": "whisper-1"}, "files": {"x": ("a", b"1")}}, 400, "file"),
        ("/audio/transcriptions", {"files": {"file": ("a.wav", b"RIFF")}}, 400, "model"),
        ("/chat/completions", {"json": {"model": "scripted-llm"}}, 400, "messages"),
        ("/embeddings", {"json": {"input": "hi"}}, 404, "path"),
    ],
)
def test_bad_requests_get_openai_error_json_naming_the_field(
    path: str, request_kwargs: dict[str, object], status: int, param: str
) -> None:
    with scripted_vendor() as (url, _vendor):
        response = httpx.post(url + path, timeout=10, **request_kwargs)  # type: ignore[arg-type]
    assert response.status_code == status
    error = response.json()["error"]
    assert error["param"] == param and param in error["message"]


def test_a_stalled_client_holds_up_no_other_and_concurrent_speech_never_queues() -> None:
    with scripted_vendor() as (url, vendor):
        host, port = url.removeprefix("http://").split("/")[0].split(":")
        stalled = socket.create_connection((host, int(port)), timeout=10)
        stalled.sendall(
            b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"
        )  # body never ends
        body = {"model": "tts-1", "input": "Noted.", "response_format": "pcm"}

        def speak(_: int) -> int:
            response = httpx.post(f"{url}/audio/speech", json=body, timeout=5)
            return len(response.content) if response.status_code == 200 else -response.status_code

        try:
            with ThreadPoolExecutor(24) as pool:
                sizes = list(pool.map(speak, range(24)))
            assert vendor.snapshot() == {"speech": 24}  # the stalled one is still being read
        finally:
            stalled.close()
    assert sizes == [round(CLIP_S * RATE) * 2] * 24


def test_stats_and_models_answer_and_unknown_paths_are_counted() -> None:
    with scripted_vendor() as (url, _vendor):
        models = httpx.get(f"{url}/models", timeout=5).json()
        assert httpx.get(f"{url}/files", timeout=5).status_code == 404
        stats = httpx.get(url.removesuffix("/v1") + "/_stats", timeout=5).json()
    assert [m["id"] for m in models["data"]] == ["scripted-llm"]
    assert stats == {"models": 1, "unknown GET /v1/files": 1}
