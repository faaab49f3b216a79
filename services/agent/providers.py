"""Speech provider selection from settings: a pure plan, checked at startup, built inside jobs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from services.shared.settings import Settings, STTProvider, TTSProvider

if TYPE_CHECKING:
    from livekit.agents import stt, tts, vad


class ProviderError(ValueError):
    """A speech provider cannot run with the current settings; the message names the setting."""


@dataclass(frozen=True)
class SpeechPlan:
    """Which STT and TTS the worker uses, and the key each one needs (None for offline)."""

    stt: STTProvider
    tts: TTSProvider
    stt_key: str | None = None
    tts_key: str | None = None


def plan_speech(settings: Settings) -> SpeechPlan:
    """Choose STT/TTS from settings; raise ProviderError naming the missing key's setting."""
    agent = settings.agent
    openai_key = settings.llm.openai_api_key.get_secret_value() if settings.llm.openai_api_key else None
    deepgram_key = agent.deepgram_api_key.get_secret_value() if agent.deepgram_api_key else None

    stt_key: str | None = None
    if agent.stt is STTProvider.OPENAI:
        if not openai_key:
            raise ProviderError("AGENT_STT=openai needs OPENAI_API_KEY")
        stt_key = openai_key
    elif agent.stt is STTProvider.DEEPGRAM:
        if not deepgram_key:
            raise ProviderError("AGENT_STT=deepgram needs DEEPGRAM_API_KEY")
        stt_key = deepgram_key

    tts_key: str | None = None
    if agent.tts is TTSProvider.OPENAI:
        if not openai_key:
            raise ProviderError("AGENT_TTS=openai needs OPENAI_API_KEY")
        tts_key = openai_key
    return SpeechPlan(stt=agent.stt, tts=agent.tts, stt_key=stt_key, tts_key=tts_key)


def check_providers(settings: Settings) -> SpeechPlan:
    """Startup check: the plan, plus the offline binaries it relies on."""
    plan = plan_speech(settings)
    if plan.tts is TTSProvider.OFFLINE:
        from services.agent.speech.espeak import find_espeak

        if find_espeak() is None:
            raise ProviderError("AGENT_TTS=offline needs the espeak-ng program (apt-get install espeak-ng)")
    return plan


def build_stt(plan: SpeechPlan, settings: Settings, vad_model: vad.VAD, offline_model: object) -> stt.STT:
    """The STT of the plan; non-streaming ones are wrapped by the session with the VAD."""
    if plan.stt is STTProvider.OPENAI:
        from livekit.plugins import openai

        return openai.STT(api_key=plan.stt_key or "", base_url=settings.llm.openai_base_url)
    if plan.stt is STTProvider.DEEPGRAM:
        from livekit.plugins import deepgram

        return deepgram.STT(api_key=plan.stt_key or "")
    from services.agent.speech.sphinx import SphinxModel, SphinxSTT

    assert isinstance(offline_model, SphinxModel)
    return SphinxSTT(offline_model)


def build_tts(plan: SpeechPlan, settings: Settings) -> tts.TTS:
    """The TTS of the plan."""
    if plan.tts is TTSProvider.OPENAI:
        from livekit.plugins import openai

        return openai.TTS(api_key=plan.tts_key or "", base_url=settings.llm.openai_base_url)
    from services.agent.speech.espeak import EspeakTTS

    return EspeakTTS(voice=settings.agent.voice, rate=settings.agent.speech_rate)
