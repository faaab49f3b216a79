"""Offline STT word error rate: Whisper (the configured size) on tests/data/stt-sentences.txt in three voices.

The voices are the Piper joe voice and two espeak-ng voices (en-us+m3, en-us+f2); the audio goes straight
to the model at 16 kHz (no WebRTC). Needs no running stack, only the venv and espeak-ng.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
import wave
from pathlib import Path

from services.shared.audio import to_mono_int16
from services.shared.settings import Settings
from services.speech.piper import PiperVoice, joe_voice_paths
from services.speech.whisper import SAMPLE_RATE, WhisperModel, model_dir
from tests.bench.report import Section

SENTENCES = Path(__file__).resolve().parents[1] / "data" / "stt-sentences.txt"
ESPEAK_VOICES = (("en-us+m3", 150), ("en-us+f2", 140))


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z' ]+", " ", text.lower()).split()


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Word-level Levenshtein distance."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def espeak_pcm(text: str, voice: str, rate: int, tmp: Path) -> bytes:
    path = tmp / "u.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-w", str(path), text], check=True, timeout=60)
    with wave.open(str(path)) as w:
        return to_mono_int16(w.readframes(w.getnframes()), w.getframerate(), w.getnchannels(), SAMPLE_RATE)


def bench_stt(settings: Settings) -> Section:
    sentences = [s for s in SENTENCES.read_text().splitlines() if s and not s.startswith("#")]
    size = settings.speech.whisper_model.value
    model = WhisperModel(
        model_dir(size, settings.stack.cache),
        beam_size=settings.speech.whisper_beam,
        name=size,
        window_pad=settings.speech.whisper_window_pad,
    )
    piper = PiperVoice(*joe_voice_paths())
    errors = total = 0
    per_voice: dict[str, tuple[int, int]] = {}
    seconds: list[float] = []
    misheard: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for text in sentences:
            clips = {"piper-joe": to_mono_int16(piper.synthesize(text), piper.sample_rate, 1, SAMPLE_RATE)}
            for voice, rate in ESPEAK_VOICES:
                clips[f"espeak-{voice}"] = espeak_pcm(text, voice, rate, Path(tmp))
            for voice, pcm in clips.items():
                started = time.monotonic()
                heard = model.transcribe(pcm)
                seconds.append(time.monotonic() - started)
                e, n = edit_distance(words(text), words(heard)), len(words(text))
                errors, total = errors + e, total + n
                ve, vn = per_voice.get(voice, (0, 0))
                per_voice[voice] = (ve + e, vn + n)
                if e:
                    misheard.append(f"{voice}: '{text}' -> '{heard}'")
    wer = errors / total * 100
    pad = settings.speech.whisper_window_pad
    title = f"Whisper {size}, {len(seconds)} utterances, 3 voices, window: utterance + {pad:g} s"
    section = Section(f"Offline STT word error rate ({title})")
    section.add("WER, all voices", f"{wer:.1f} % ({errors}/{total} words)", "<= 10 %", wer <= 10)
    for voice, (e, n) in per_voice.items():
        section.add(f"WER, {voice}", f"{e / n * 100:.1f} %")
    section.add("seconds per utterance", f"mean {sum(seconds) / len(seconds):.2f} s, max {max(seconds):.2f} s")
    section.notes += [f"misheard: {m}" for m in misheard[:12]]
    return section
