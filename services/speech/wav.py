"""WAV in and out for the speech service (standard library `wave` and numpy; no I/O)."""

from __future__ import annotations

import io
import struct
import wave

from services.shared.audio import to_mono_int16

MIN_RATE, MAX_RATE = 8000, 96000


class WavError(ValueError):
    """The upload is not audio the service can read; the message says why."""


def read_wav(data: bytes, target_rate: int, max_seconds: float) -> tuple[bytes, float]:
    """(mono int16 PCM at ``target_rate``, duration in seconds) of a 16-bit PCM WAV file."""
    try:
        with wave.open(io.BytesIO(data)) as w:
            width, channels, rate, frames = w.getsampwidth(), w.getnchannels(), w.getframerate(), w.getnframes()
            if width != 2:
                raise WavError(f"must be 16-bit PCM WAV (this one has {8 * width}-bit samples)")
            if not 1 <= channels <= 8:
                raise WavError(f"has {channels} channels (1 to 8 are accepted)")
            if not MIN_RATE <= rate <= MAX_RATE:
                raise WavError(f"has a sample rate of {rate} Hz ({MIN_RATE} to {MAX_RATE} are accepted)")
            seconds = frames / rate
            if seconds > max_seconds:
                raise WavError(f"is {seconds:.1f} s long (at most {max_seconds:g} s)")
            raw = w.readframes(frames)
    except (wave.Error, EOFError, struct.error) as error:
        raise WavError(f"must be a 16-bit PCM WAV file ({error})") from None
    return to_mono_int16(raw, rate, channels, target_rate), seconds


def wav_header(rate: int, channels: int = 1) -> bytes:
    """A RIFF/WAVE header for a stream of unknown length (sizes set to the maximum, as streamed WAVs do)."""
    block = channels * 2
    return (
        b"RIFF"
        + struct.pack("<I", 0xFFFFFFFF)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block, 16)
        + b"data"
        + struct.pack("<I", 0xFFFFFFFF)
    )
