"""Small PCM helpers shared by the offline speech plugins (pure numpy, no I/O)."""

from __future__ import annotations

import numpy as np


def to_mono_int16(pcm: bytes, rate: int, channels: int, target_rate: int) -> bytes:
    """Mix interleaved int16 PCM down to mono and resample it linearly to target_rate."""
    samples = np.frombuffer(pcm, dtype=np.int16)
    if channels > 1:
        samples = samples[: len(samples) - len(samples) % channels].reshape(-1, channels).mean(axis=1)
    samples = samples.astype(np.float32)
    if rate != target_rate and len(samples) > 1:
        count = max(1, round(len(samples) * target_rate / rate))
        positions = np.linspace(0, len(samples) - 1, count, dtype=np.float64)
        samples = np.interp(positions, np.arange(len(samples)), samples)
    return np.clip(samples, -32768, 32767).astype(np.int16).tobytes()


def rms(pcm: bytes) -> float:
    """Root-mean-square level of int16 PCM (0 for empty input)."""
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
    return float(np.sqrt(np.mean(samples**2))) if len(samples) else 0.0
