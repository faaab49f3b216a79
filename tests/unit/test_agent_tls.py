"""After prewarm, the clients a job builds (the Letta brain, the STT and TTS of every plan) and livekit-agents'
HTTP session parse no CA bundle on the job's event loop."""

from __future__ import annotations

import ssl

import pytest

from services.agent.brain import letta_llm
from services.agent.providers import SpeechPlan, build_stt, build_tts
from services.agent.tls import client_tls_context, warm_tls_contexts
from services.shared.settings import Settings, SpeechSettings, STTProvider, TTSProvider

pytestmark = pytest.mark.unit

AID = "agent-7bbda8ee-5779-4950-b35a-058818397202"
PLANS = [
    SpeechPlan(STTProvider.OFFLINE, TTSProvider.OFFLINE),
    SpeechPlan(STTProvider.OPENAI, TTSProvider.OPENAI, stt_key="sk-x", tts_key="sk-x"),
]


def test_the_shared_context_verifies_certificates_and_host_names() -> None:
    ctx = client_tls_context()
    assert ctx is client_tls_context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


@pytest.mark.parametrize("plan", PLANS, ids=["offline", "openai"])
def test_after_the_warm_up_a_jobs_clients_load_no_certificates(
    monkeypatch: pytest.MonkeyPatch, plan: SpeechPlan
) -> None:
    from livekit.agents.utils import http_context

    warm_tls_contexts()
    loads: list[str] = []
    monkeypatch.setattr(ssl.SSLContext, "load_default_certs", lambda *_a, **_k: loads.append("system store"))
    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", lambda *_a, **_k: loads.append("CA file"))
    settings = Settings(speech=SpeechSettings(api_key="speech-key"))  # make up generates one (.stack/secrets.env)
    # what a job builds once it knows its Letta agent
    letta_llm(settings, AID)
    build_stt(plan, settings)
    build_tts(plan, settings)
    http_context._create_ssl_context()  # what livekit-agents' HTTP session takes
    assert loads == []
