"""Speech provider selection from settings: a pure plan, checked at startup, built inside jobs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from services.shared.settings import Settings, STTProvider, TTSProvider

if TYPE_CHECKING:
    from livekit.agents import stt, tts


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
    """Startup check: the plan, plus the programs and keys it relies on."""
    plan = plan_speech(settings)
    if plan.tts is TTSProvider.ESPEAK:
        from services.agent.speech.espeak import find_espeak

        if find_espeak() is None:
            raise ProviderError("AGENT_TTS=espeak needs the espeak-ng program (apt-get install espeak-ng)")
    if settings.speech_needed and not speech_key(settings):
        raise ProviderError(
            "AGENT_STT/AGENT_TTS=offline use the local speech service: SPEECH_API_KEY is empty (run 'make up')"
        )
    return plan


def speech_key(settings: Settings) -> str:
    key = settings.speech.api_key
    return key.get_secret_value() if key else ""


def load_offline_models(plan: SpeechPlan) -> dict[str, object]:
    """The in-process models of the plan, loaded once per job process (prewarm): only pocketsphinx now;
    Whisper and the Piper voice live in the speech service, shared by every job process."""
    if plan.stt is STTProvider.SPHINX:
        from services.agent.speech.sphinx import SphinxModel

        return {"stt": SphinxModel()}
    return {}


# What the worker asks the speech service for (services/speech/requests.py accepts these names).
SERVICE_TTS_MODEL = "piper"
SERVICE_VOICE = "joe"


def build_stt(plan: SpeechPlan, settings: Settings, offline_model: object = None) -> stt.STT:
    """The STT of the plan; non-streaming ones are wrapped by the session with the VAD."""
    from livekit.plugins import openai

    from services.agent.tls import openai_client

    if plan.stt is STTProvider.OPENAI:
        return openai.STT(client=openai_client(plan.stt_key or "", settings.llm.openai_base_url))
    if plan.stt is STTProvider.DEEPGRAM:
        from livekit.plugins import deepgram

        return deepgram.STT(api_key=plan.stt_key or "")
    if plan.stt is STTProvider.SPHINX:
        from services.agent.speech.sphinx import SphinxModel, SphinxSTT

        assert isinstance(offline_model, SphinxModel)
        return SphinxSTT(offline_model)
    # The local speech service, through the same plugin as OpenAI's cloud: one code path.
    size = settings.speech.whisper_model.value
    return openai.STT(
        model=size, language="en", client=openai_client(speech_key(settings), f"{settings.speech.base_url}/v1")
    )


def build_tts(plan: SpeechPlan, settings: Settings) -> tts.TTS:
    """The TTS of the plan, fed from the reply's first clause on (see chunking.py): every TTS of ours is
    non-streaming, so it gets one chunk per request while Letta still writes the rest."""
    return speak_from_first_clause(_plan_tts(plan, settings))


def speak_from_first_clause(engine: tts.TTS) -> tts.TTS:
    """Wrap a non-streaming TTS in livekit-agents' StreamAdapter with our clause tokenizer (else the session
    would wrap it with a whole-sentence tokenizer)."""
    if engine.capabilities.streaming:
        return engine
    from livekit.agents import tts as agents_tts

    from services.agent.chunking import ClauseTokenizer

    return agents_tts.StreamAdapter(tts=engine, sentence_tokenizer=ClauseTokenizer())


def _plan_tts(plan: SpeechPlan, settings: Settings) -> tts.TTS:
    from livekit.plugins import openai

    from services.agent.tls import openai_client

    if plan.tts is TTSProvider.OPENAI:
        return openai.TTS(client=openai_client(plan.tts_key or "", settings.llm.openai_base_url))
    if plan.tts is TTSProvider.OFFLINE:
        return openai.TTS(
            model=SERVICE_TTS_MODEL,
            voice=SERVICE_VOICE,
            response_format="pcm",
            client=openai_client(speech_key(settings), f"{settings.speech.base_url}/v1"),
        )
    from services.agent.speech.espeak import EspeakTTS

    return EspeakTTS(voice=settings.agent.voice, rate=settings.agent.speech_rate)
