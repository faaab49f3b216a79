"""Offline speech defaults: Piper TTS (piper-onnx) and Whisper STT (faster-whisper), real models from the venv."""

from __future__ import annotations

import asyncio
import functools

import numpy as np
import pytest
from livekit import rtc

from services.agent.speech.audio import rms
from services.agent.speech.espeak import SAMPLE_RATE as ESPEAK_RATE
from services.agent.speech.espeak import EspeakTTS, find_espeak
from services.agent.speech.piper import PiperTTS, PiperVoice, float_to_pcm16, joe_voice_paths
from services.agent.speech.whisper import WhisperModel, WhisperSTT, model_dir, pcm_to_float, tiny_en_path

pytestmark = pytest.mark.unit


@functools.cache
def voice() -> PiperVoice:
    return PiperVoice(*joe_voice_paths(), threads=1)


@functools.cache
def whisper() -> WhisperModel:
    return WhisperModel(tiny_en_path(), threads=1, beam_size=5)


async def _frames(tts: object, text: str) -> rtc.AudioFrame:
    frames = [ev.frame async for ev in tts.synthesize(text)]  # type: ignore[attr-defined]
    return rtc.combine_audio_frames(frames)


def test_float_to_pcm16_scales_and_clips() -> None:
    pcm = np.frombuffer(float_to_pcm16(np.array([0.0, 0.5, -1.0, 2.0, -3.0], dtype=np.float32)), dtype=np.int16)
    assert pcm.tolist() == [0, 16383, -32767, 32767, -32767]


def test_pcm_to_float_range() -> None:
    samples = pcm_to_float(np.array([0, 16384, -32768], dtype=np.int16).tobytes())
    assert samples.dtype == np.float32
    assert samples.tolist() == [0.0, 0.5, -1.0]


def test_model_files_come_from_the_packages() -> None:
    assert (tiny_en_path() / "model.bin").is_file()
    assert all(path.is_file() for path in joe_voice_paths())


def test_whisper_model_folder_must_hold_a_model(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="install-models"):
        WhisperModel(tmp_path)


def test_piper_speaks_a_sentence_as_audible_audio() -> None:
    tts = PiperTTS(voice())
    frame = asyncio.run(_frames(tts, "The capital of France is Paris."))
    assert frame.sample_rate == 22050 and frame.num_channels == 1
    assert 1.0 < frame.duration < 5.0
    assert rms(bytes(frame.data)) > 300
    assert tts.provider == "piper-onnx" and tts.model == "piper-en_US-joe-medium"


def test_piper_says_nothing_for_punctuation_only() -> None:
    assert voice().synthesize(" ... ") == b""


def test_whisper_transcribes_piper_speech() -> None:
    async def run() -> str:
        speech = await _frames(PiperTTS(voice()), "What is the capital of France?")
        silence = rtc.AudioFrame(bytes(22050), 22050, 1, 22050 // 2)
        event = await WhisperSTT(whisper()).recognize([silence, speech, silence])
        return event.alternatives[0].text

    text = asyncio.run(run()).lower()
    assert "capital" in text and "france" in text, text


@pytest.mark.skipif(find_espeak() is None, reason="espeak-ng is not installed")
def test_whisper_transcribes_an_espeak_voice() -> None:
    async def run() -> str:
        speech = await _frames(EspeakTTS(voice="en-us+m3", rate=150), "How many days are there in a week?")
        assert speech.sample_rate == ESPEAK_RATE
        return (await WhisperSTT(whisper()).recognize([speech])).alternatives[0].text

    # (Names are where tiny.en slips on espeak-ng: "My name is Ada" comes back as "my name is Nader".)
    text = asyncio.run(run()).lower()
    assert "how many days" in text and "week" in text, text


def test_whisper_hears_nothing_in_silence() -> None:
    assert whisper().transcribe(b"") == ""


def test_whisper_base_comes_from_the_model_cache(tmp_path) -> None:
    assert model_dir("tiny.en", tmp_path) == tiny_en_path()
    assert model_dir("base", tmp_path) == tmp_path / "models" / "whisper-base-ct2"


def test_a_missing_whisper_base_names_the_setting(tmp_path) -> None:
    from services.agent.providers import ProviderError, check_providers
    from services.shared.settings import AgentSettings, Settings, StackSettings

    s = Settings(agent=AgentSettings(whisper_model="base"), stack=StackSettings(cache_dir=tmp_path))
    with pytest.raises(ProviderError, match="AGENT_WHISPER_MODEL=base"):
        check_providers(s)
