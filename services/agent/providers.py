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
    """Startup check: the plan, plus the offline programs and model packages it relies on."""
    plan = plan_speech(settings)
    if plan.tts is TTSProvider.ESPEAK:
        from services.agent.speech.espeak import find_espeak

        if find_espeak() is None:
            raise ProviderError("AGENT_TTS=espeak needs the espeak-ng program (apt-get install espeak-ng)")
    try:
        if plan.stt is STTProvider.OFFLINE:
            from services.agent.speech.whisper import model_dir

            folder = model_dir(settings.agent.whisper_model.value, settings.stack.cache)
            if not (folder / "model.bin").is_file():
                raise ProviderError(
                    f"AGENT_WHISPER_MODEL={settings.agent.whisper_model.value}: no Whisper model in {folder}"
                    " (run 'make up')"
                )
        if plan.tts is TTSProvider.OFFLINE:
            from services.agent.speech.piper import joe_voice_paths

            missing = [str(p) for p in joe_voice_paths() if not p.is_file()]
            if missing:
                raise ProviderError(f"AGENT_TTS=offline: the Piper voice is missing: {', '.join(missing)}")
    except ImportError as exc:
        raise ProviderError(f"offline speech packages are not installed ({exc.name}): run 'make up'") from exc
    return plan


def load_offline_models(plan: SpeechPlan, settings: Settings) -> dict[str, object]:
    """The offline STT/TTS models of the plan, loaded once per process (prewarm): {"stt": …, "tts": …}."""
    agent = settings.agent
    models: dict[str, object] = {}
    if plan.stt is STTProvider.OFFLINE:
        from services.agent.speech.whisper import WhisperModel, model_dir

        size = agent.whisper_model.value
        models["stt"] = WhisperModel(
            model_dir(size, settings.stack.cache), threads=agent.speech_threads, beam_size=agent.whisper_beam, name=size
        )
    elif plan.stt is STTProvider.SPHINX:
        from services.agent.speech.sphinx import SphinxModel

        models["stt"] = SphinxModel()
    if plan.tts is TTSProvider.OFFLINE:
        from services.agent.speech.piper import PiperVoice, joe_voice_paths

        models["tts"] = PiperVoice(*joe_voice_paths(), threads=agent.speech_threads)
    return models


def build_stt(plan: SpeechPlan, settings: Settings, vad_model: vad.VAD, offline_model: object) -> stt.STT:
    """The STT of the plan; non-streaming ones are wrapped by the session with the VAD."""
    if plan.stt is STTProvider.OPENAI:
        from livekit.plugins import openai

        return openai.STT(api_key=plan.stt_key or "", base_url=settings.llm.openai_base_url)
    if plan.stt is STTProvider.DEEPGRAM:
        from livekit.plugins import deepgram

        return deepgram.STT(api_key=plan.stt_key or "")
    if plan.stt is STTProvider.SPHINX:
        from services.agent.speech.sphinx import SphinxModel, SphinxSTT

        assert isinstance(offline_model, SphinxModel)
        return SphinxSTT(offline_model)
    from services.agent.speech.whisper import WhisperModel, WhisperSTT

    assert isinstance(offline_model, WhisperModel)
    return WhisperSTT(offline_model)


def build_tts(plan: SpeechPlan, settings: Settings, offline_voice: object = None) -> tts.TTS:
    """The TTS of the plan (the offline Piper voice is loaded once per process and passed in)."""
    if plan.tts is TTSProvider.OPENAI:
        from livekit.plugins import openai

        return openai.TTS(api_key=plan.tts_key or "", base_url=settings.llm.openai_base_url)
    if plan.tts is TTSProvider.OFFLINE:
        from services.agent.speech.piper import PiperTTS, PiperVoice

        assert isinstance(offline_voice, PiperVoice)
        return PiperTTS(offline_voice)
    from services.agent.speech.espeak import EspeakTTS

    return EspeakTTS(voice=settings.agent.voice, rate=settings.agent.speech_rate)
