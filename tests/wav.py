"""WAV files in memory for the tests and the scripted vendor (the standard library's wave module)."""

from __future__ import annotations

import io
import wave


def wav_file(pcm: bytes, rate: int, channels: int = 1, width: int = 2) -> bytes:
    """``pcm`` (interleaved, ``width`` bytes per sample) as a whole WAV file."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(pcm)
    return out.getvalue()
