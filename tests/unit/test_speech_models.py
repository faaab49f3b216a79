"""The speech service's models: the Piper voice (piper-onnx) and Whisper (faster-whisper), real ones from the venv."""

from __future__ import annotations

import functools
import subprocess
import wave

import numpy as np
import pytest

from services.agent.speech.espeak import find_espeak
from services.shared.audio import rms, to_mono_int16
from services.shared.settings import SpeechSettings, StackSettings
from services.speech.engine import missing_models
from services.speech.piper import PiperVoice, float_to_pcm16, joe_voice_paths
from services.speech.whisper import (
    FULL_WINDOW_FRAMES,
    SAMPLE_RATE,
    WhisperModel,
    model_dir,
    pcm_to_float,
    tiny_en_path,
    window_frames,
)

pytestmark = pytest.mark.unit


@functools.cache
def voice() -> PiperVoice:
    return PiperVoice(*joe_voice_paths(), threads=1)


@functools.cache
def whisper() -> WhisperModel:
    return WhisperModel(tiny_en_path(), threads=1, beam_size=5)


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
    pcm = voice().synthesize("The capital of France is Paris.")
    assert voice().sample_rate == 22050
    assert 1.0 < len(pcm) / 2 / 22050 < 5.0
    assert rms(pcm) > 300


def test_piper_speed_changes_the_length() -> None:
    normal = len(voice().synthesize("One two three four five."))
    fast = len(voice().synthesize("One two three four five.", speed=2.0))
    assert fast < 0.7 * normal


def test_piper_says_nothing_for_punctuation_only() -> None:
    assert voice().synthesize(" ... ") == b""


def test_whisper_transcribes_piper_speech() -> None:
    speech = to_mono_int16(voice().synthesize("What is the capital of France?"), 22050, 1, SAMPLE_RATE)
    silence = bytes(SAMPLE_RATE)  # half a second of int16 zeros
    text = whisper().transcribe(silence + speech + silence).lower()
    assert "capital" in text and "france" in text, text


def test_window_frames_hold_the_utterance_and_its_padding() -> None:
    two_seconds = 2 * SAMPLE_RATE
    assert window_frames(two_seconds, 15.0) == 200 + 1 + 1500 + 1  # even: the encoder halves it
    assert window_frames(two_seconds, 30.0) == FULL_WINDOW_FRAMES
    assert window_frames(40 * SAMPLE_RATE, 15.0) == FULL_WINDOW_FRAMES  # never more than Whisper's window


@pytest.mark.parametrize("pad", [15.0, 30.0])
def test_whisper_encodes_only_the_utterance_and_its_padding(monkeypatch: pytest.MonkeyPatch, pad: float) -> None:
    import faster_whisper

    widths: list[int] = []
    encode = faster_whisper.WhisperModel.encode

    def spy(self, features):  # type: ignore[no-untyped-def]
        widths.append(features.shape[-1])
        return encode(self, features)

    monkeypatch.setattr(faster_whisper.WhisperModel, "encode", spy)
    model = WhisperModel(tiny_en_path(), threads=1, beam_size=5, window_pad=pad)
    speech = to_mono_int16(voice().synthesize("How many days are there in a week?"), 22050, 1, SAMPLE_RATE)
    text = model.transcribe(speech).lower()
    assert "days" in text and "week" in text and text.count("week") == 1, text
    assert widths == [window_frames(len(speech) // 2, pad)]
    assert (widths[0] < FULL_WINDOW_FRAMES) == (pad < 30)


@pytest.mark.skipif(find_espeak() is None, reason="espeak-ng is not installed")
def test_whisper_transcribes_an_espeak_voice(tmp_path) -> None:
    path = tmp_path / "q.wav"
    subprocess.run(
        ["espeak-ng", "-v", "en-us+m3", "-s", "150", "-w", str(path), "How many days are there in a week?"],
        check=True,
        timeout=30,
    )
    with wave.open(str(path)) as w:
        pcm = to_mono_int16(w.readframes(w.getnframes()), w.getframerate(), w.getnchannels(), SAMPLE_RATE)
    # (Names are where tiny.en slips on espeak-ng: "My name is Ada" comes back as "my name is Nader".)
    text = whisper().transcribe(pcm).lower()
    assert "how many days" in text and "week" in text, text


def test_whisper_hears_nothing_in_silence() -> None:
    assert whisper().transcribe(b"") == ""


def test_whisper_base_comes_from_the_model_cache(tmp_path) -> None:
    assert model_dir("tiny.en", tmp_path) == tiny_en_path()
    assert model_dir("base", tmp_path) == tmp_path / "models" / "whisper-base-ct2"


def test_a_missing_whisper_base_names_the_setting(tmp_path) -> None:
    problems = missing_models(SpeechSettings(whisper_model="base"), StackSettings(cache_dir=tmp_path).cache)
    assert len(problems) == 1 and "SPEECH_WHISPER_MODEL=base" in problems[0]
    assert missing_models(SpeechSettings(), tmp_path) == []
