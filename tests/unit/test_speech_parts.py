"""The speech service's pure parts: request checks, sentence splitting, WAV in and out, the queues."""

from __future__ import annotations

import io
import threading
import wave

import pytest

from services.speech.pools import FIRST, LATER, Admission, Busy, PriorityPool
from services.speech.requests import RequestError, parse_speech, parse_transcription
from services.speech.text import MAX_PIECE, sentences
from services.speech.wav import WavError, read_wav, wav_header
from tests.wav import wav_file

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello.", ["Hello."]),
        ("Hello there. How are you? Fine!", ["Hello there.", "How are you?", "Fine!"]),
        ("It costs 2.50 euros. Yes.", ["It costs 2.50 euros.", "Yes."]),
        ("First: this; then that.", ["First:", "this;", "then that."]),
        ("  spaced \n\n out  ", ["spaced out"]),
        ("", []),
    ],
)
def test_sentences(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_a_long_sentence_is_cut_at_spaces() -> None:
    pieces = sentences(" ".join(["word"] * 200))
    assert len(pieces) > 1 and all(len(p) <= MAX_PIECE for p in pieces)
    assert " ".join(pieces).split() == ["word"] * 200


def test_parse_transcription_defaults() -> None:
    spec = parse_transcription({"model": "whisper-1"}, "tiny.en", english_only=True)
    assert (spec.language, spec.response_format) == (None, "json")
    assert parse_transcription({"model": "base", "language": "DE"}, "base", english_only=False).language == "de"


def test_parse_speech_defaults() -> None:
    spec = parse_speech({"model": "piper", "input": "Hi."}, 100)
    assert (spec.voice, spec.response_format, spec.speed) == ("joe", "pcm", 1.0)


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"model": "piper", "input": "x" * 11}, "input", 413),
        ({"model": "piper", "input": "Hi.", "speed": True}, "speed", 400),
        ({"model": "piper", "input": "Hi.", "speed": float("nan")}, "speed", 400),
        ({"model": "piper", "input": "Hi.", "speed": 0.1}, "speed", 400),
        ({"model": 3, "input": "Hi."}, "model", 400),
    ],
)
def test_parse_speech_errors(body: dict, field: str, status: int) -> None:
    with pytest.raises(RequestError) as info:
        parse_speech(body, 10)
    assert (info.value.field, info.value.status) == (field, status)
    assert info.value.body()["field"] == field


def _wav(rate: int, channels: int, frames: int, width: int = 2) -> bytes:
    return wav_file(bytes(frames * channels * width), rate, channels, width)


def test_read_wav_resamples_to_the_target() -> None:
    pcm, seconds = read_wav(_wav(48000, 2, 48000), 16000, 10)
    assert seconds == 1.0 and len(pcm) == 2 * 16000


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"RIFF....WAVE", "16-bit PCM WAV"),
        (b"", "16-bit PCM WAV"),
        (_wav(16000, 1, 10, width=1), "8-bit"),
        (_wav(4000, 1, 10), "4000 Hz"),
        (_wav(16000, 1, 16000 * 3), "at most 2 s"),
    ],
)
def test_read_wav_refusals(data: bytes, reason: str) -> None:
    with pytest.raises(WavError, match=reason):
        read_wav(data, 16000, 2)


def test_streamed_wav_header_is_read_by_wave() -> None:
    with wave.open(io.BytesIO(wav_header(22050) + bytes(4410))) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (22050, 1, 2)
        assert len(w.readframes(10**6)) == 4410


def test_admission_refuses_beyond_the_limit_and_frees_on_exit() -> None:
    admission = Admission(1)
    with admission, pytest.raises(Busy), admission:
        pass
    with admission:
        assert admission.active == 1
    assert admission.active == 0


def test_first_sentences_go_before_later_ones() -> None:
    pool = PriorityPool("test", 1)
    release = threading.Event()
    order: list[str] = []
    try:
        blocker = pool.submit(LATER, release.wait, 30)
        later = [pool.submit(LATER, order.append, f"later-{i}") for i in range(3)]
        first = pool.submit(FIRST, order.append, "first")
        release.set()
        for future in [blocker, *later, first]:
            future.result(timeout=30)
        assert order == ["first", "later-0", "later-1", "later-2"]
    finally:
        pool.shutdown()


def test_a_cancelled_job_never_runs_and_errors_reach_the_caller() -> None:
    pool = PriorityPool("test", 1)
    release = threading.Event()
    ran: list[int] = []
    try:
        blocker = pool.submit(FIRST, release.wait, 30)
        skipped = pool.submit(LATER, ran.append, 1)
        assert skipped.cancel()
        failing = pool.submit(LATER, lambda: 1 / 0)
        release.set()
        blocker.result(timeout=30)
        with pytest.raises(ZeroDivisionError):
            failing.result(timeout=30)
        assert ran == []
    finally:
        pool.shutdown()
