"""pocketsphinx STT as a livekit-agents plugin (non-streaming; the session wraps it with the VAD)."""

from __future__ import annotations

import asyncio
import threading
import uuid

from livekit import rtc
from livekit.agents import stt, utils
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, APIConnectOptions, NotGivenOr
from livekit.agents.utils import is_given

from services.shared.audio import to_mono_int16

SAMPLE_RATE = 16000


class SphinxModel:
    """One pocketsphinx decoder (bundled en-us model), loaded once per process and used serially."""

    def __init__(self) -> None:
        from pocketsphinx import Decoder

        self._decoder = Decoder(samprate=SAMPLE_RATE, logfn="/dev/null")
        self._lock = threading.Lock()

    def transcribe(self, pcm16k: bytes) -> str:
        """Text of one utterance of 16 kHz mono int16 PCM ('' when nothing was recognised)."""
        with self._lock:
            self._decoder.start_utt()
            self._decoder.process_raw(pcm16k, full_utt=True)
            self._decoder.end_utt()
            hyp = self._decoder.hyp()
        return hyp.hypstr.strip() if hyp is not None else ""


class SphinxSTT(stt.STT):
    """Offline speech-to-text with pocketsphinx; accuracy is rough, latency low."""

    def __init__(self, model: SphinxModel, language: str = "en") -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))
        self._model = model
        self._language = language

    @property
    def model(self) -> str:
        return "pocketsphinx-en-us"

    @property
    def provider(self) -> str:
        return "pocketsphinx"

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.SpeechEvent:
        frame = rtc.combine_audio_frames(buffer)
        pcm = to_mono_int16(bytes(frame.data), frame.sample_rate, frame.num_channels, SAMPLE_RATE)
        lang = language if is_given(language) else self._language
        text = await asyncio.get_running_loop().run_in_executor(None, self._model.transcribe, pcm)
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            request_id=uuid.uuid4().hex,
            alternatives=[stt.SpeechData(language=lang, text=text, confidence=1.0)],
        )
