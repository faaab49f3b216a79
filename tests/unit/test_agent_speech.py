"""Offline speech plugins: PCM helpers, espeak-ng TTS and pocketsphinx STT (local programs, no services)."""

from __future__ import annotations

import asyncio
import struct

import numpy as np
import pytest
from livekit import rtc

from services.agent.speech.espeak import SAMPLE_RATE, EspeakTTS, find_espeak, wav_data_offset
from services.shared.audio import rms, to_mono_int16

pytestmark = pytest.mark.unit


def wav_header(extra_chunk: bytes = b"") -> bytes:
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 22050, 44100, 2, 16)
    return b"RIFF" + struct.pack("<I", 0x7FFFFFFF) + b"WAVE" + fmt + extra_chunk + b"data" + struct.pack("<I", 0)


@pytest.mark.parametrize(
    ("header", "offset"),
    [
        (wav_header(), 44),
        (wav_header(b"LIST" + struct.pack("<I", 4) + b"INFO"), 56),
        (wav_header()[:30], None),
        (b"RIFF", None),
    ],
)
def test_wav_data_offset(header: bytes, offset: int | None) -> None:
    assert wav_data_offset(header) == offset


def test_wav_data_offset_rejects_other_data() -> None:
    with pytest.raises(ValueError, match="WAV"):
        wav_data_offset(b"ID3\x04" + bytes(40))


@pytest.mark.parametrize(
    ("rate", "channels", "target", "n_in", "n_out"),
    [
        (48000, 1, 16000, 4800, 1600),
        (16000, 1, 16000, 160, 160),
        (24000, 2, 16000, 480, 320),
        (22050, 1, 48000, 2205, 4800),
    ],
)
def test_to_mono_int16_lengths(rate: int, channels: int, target: int, n_in: int, n_out: int) -> None:
    pcm = (np.ones(n_in * channels, dtype=np.int16) * 1000).tobytes()
    out = to_mono_int16(pcm, rate, channels, target)
    assert len(out) == n_out * 2
    assert rms(out) == pytest.approx(1000, rel=0.01)


def test_stereo_is_mixed_down() -> None:
    left_right = np.array([1000, -1000] * 100, dtype=np.int16).tobytes()
    assert rms(to_mono_int16(left_right, 16000, 2, 16000)) == 0.0


def test_rms_of_empty_and_silence() -> None:
    assert rms(b"") == 0.0
    assert rms(bytes(320)) == 0.0


async def _synthesize(tts: EspeakTTS, text: str) -> rtc.AudioFrame:
    frames = [ev.frame async for ev in tts.synthesize(text)]
    return rtc.combine_audio_frames(frames)


@pytest.mark.skipif(find_espeak() is None, reason="espeak-ng is not installed")
def test_espeak_tts_speaks_audible_audio() -> None:
    frame = asyncio.run(_synthesize(EspeakTTS(), "Hello, I am listening."))
    assert frame.sample_rate == SAMPLE_RATE and frame.num_channels == 1
    assert 0.5 < frame.duration < 5.0
    assert rms(bytes(frame.data)) > 300


@pytest.mark.skipif(find_espeak() is None, reason="espeak-ng is not installed")
def test_espeak_reads_text_from_stdin_not_argv() -> None:
    tts = EspeakTTS()
    assert all(not arg.startswith("--version") for arg in tts.command())
    frame = asyncio.run(_synthesize(tts, "--version"))  # spoken, not taken as an option
    assert rms(bytes(frame.data)) > 300


def test_espeak_missing_binary_is_an_error() -> None:
    from livekit.agents import APIConnectionError

    with pytest.raises(APIConnectionError):
        asyncio.run(_synthesize(EspeakTTS(binary="/nonexistent/espeak-ng"), "hi"))


@pytest.mark.skipif(find_espeak() is None, reason="espeak-ng is not installed")
def test_sphinx_stt_recognises_espeak_speech() -> None:
    from services.agent.speech.sphinx import SphinxModel, SphinxSTT

    async def run() -> str:
        frame = await _synthesize(EspeakTTS(voice="en-us+f2", rate=130), "hello, how are you today")
        silence = rtc.AudioFrame(bytes(SAMPLE_RATE), SAMPLE_RATE, 1, SAMPLE_RATE // 2)
        event = await SphinxSTT(SphinxModel()).recognize([silence, frame, silence])
        return event.alternatives[0].text

    text = asyncio.run(run())
    assert "how are you" in text, text
