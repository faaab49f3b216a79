"""The shared speech service on the running stack: it refuses requests without its key, speaks and hears with
it, and the worker's job processes no longer hold the Whisper model or the Piper voice (it holds them, once)."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import httpx
import psutil
import pytest

from services.agent.server import PRELOAD_LOCAL_INFERENCE_ENV
from services.shared.audio import rms
from services.shared.settings import Settings
from services.stack.supervisor import Supervisor
from tests.helpers import eventually, log_tail
from tests.wav import wav_file

pytestmark = pytest.mark.stack
# Shared libraries only the speech models load: CTranslate2 (faster-whisper) and espeak-ng of the Piper
# phonemizer. (onnxruntime is not among them: the worker's Silero VAD uses it too.)
MODEL_LIBRARIES = ("libctranslate2", "espeakng_loader")


def base(stack: Settings) -> str:
    return f"http://127.0.0.1:{stack.speech.port}"


def auth(stack: Settings) -> dict[str, str]:
    assert stack.speech.api_key is not None
    return {"Authorization": f"Bearer {stack.speech.api_key.get_secret_value()}"}


def mapped_libraries(pid: int) -> set[str]:
    """The file names of the shared objects mapped into process ``pid``."""
    try:
        text = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return set()
    return {line.split()[-1] for line in text.splitlines() if ".so" in line.split()[-1]}


def holds_models(pid: int) -> list[str]:
    libraries = mapped_libraries(pid)
    return [lib for lib in MODEL_LIBRARIES if any(lib in path for path in libraries)]


def program_pid(stack: Settings, name: str) -> int:
    info = Supervisor(stack).info()
    assert name in info and info[name].pid, f"{name} is not running: {sorted(info)}"
    return info[name].pid


@pytest.mark.parametrize("header", [None, "Bearer not-the-key"])
def test_the_speech_service_refuses_a_request_without_its_key(stack: Settings, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    body = {"model": "piper", "input": "Hello."}
    response = httpx.post(f"{base(stack)}/v1/audio/speech", json=body, headers=headers, timeout=30)
    assert response.status_code == 401, response.text
    assert response.json()["field"] == "Authorization"
    files = {"file": ("u.wav", b"RIFF", "audio/wav")}
    response = httpx.post(
        f"{base(stack)}/v1/audio/transcriptions", files=files, data={"model": "whisper-1"}, headers=headers, timeout=30
    )
    assert response.status_code == 401
    assert httpx.get(f"{base(stack)}/metrics", headers=headers, timeout=30).status_code == 401
    assert httpx.get(f"{base(stack)}/healthz", timeout=30).json()["status"] == "ok"


def test_the_speech_service_speaks_and_hears_with_the_key(stack: Settings) -> None:
    body = {"model": "piper", "input": "What is the capital of France?", "response_format": "wav"}
    spoken = httpx.post(f"{base(stack)}/v1/audio/speech", json=body, headers=auth(stack), timeout=60)
    assert spoken.status_code == 200, spoken.text
    with wave.open(io.BytesIO(spoken.content)) as w:
        pcm, rate = w.readframes(w.getnframes()), w.getframerate()
    assert rms(pcm) > 300
    heard = httpx.post(
        f"{base(stack)}/v1/audio/transcriptions",
        files={"file": ("q.wav", wav_file(pcm, rate), "audio/wav")},
        data={"model": "whisper-1", "language": "en"},
        headers=auth(stack),
        timeout=60,
    )
    assert heard.status_code == 200, heard.text + log_tail(stack, "speech")
    text = heard.json()["text"].lower()
    assert "capital" in text and "france" in text, text


def test_job_processes_hold_no_speech_model_and_the_service_does(stack: Settings) -> None:
    if not stack.speech_needed:
        pytest.skip("AGENT_STT/AGENT_TTS are not offline: the stack runs no speech service")
    worker = psutil.Process(program_pid(stack, "agent"))
    # num_idle_processes keeps a prewarmed job process ready: wait until the worker has one
    jobs = eventually(
        lambda: [p for p in worker.children(recursive=True) if p.cmdline() and "python" in p.cmdline()[0]],
        60,
        what="a job process of the worker",
    )
    assert holds_models(program_pid(stack, "speech")) == list(MODEL_LIBRARIES), "the check can see the models"
    for proc in [worker, *jobs]:
        assert holds_models(proc.pid) == [], f"pid {proc.pid} ({' '.join(proc.cmdline()[:4])}) loaded a model"


def test_the_worker_loads_no_end_of_turn_model(stack: Settings) -> None:
    """livekit-agents' own turn model (~244 MB) stays out of the forkserver and the job processes it forks:
    our turns end by the Silero VAD. (livekit-agents honouring the variable is a unit test.)"""
    worker = psutil.Process(program_pid(stack, "agent"))
    forkservers = eventually(
        lambda: [p for p in worker.children() if "multiprocessing.forkserver" in " ".join(p.cmdline())],
        60,
        what="the worker's forkserver",
    )
    # (the worker's own /proc environ is the one it started with: the variable is set inside it, for them)
    for proc in [*forkservers, *forkservers[0].children()]:
        assert proc.environ().get(PRELOAD_LOCAL_INFERENCE_ENV) == "0", f"pid {proc.pid} may load the turn model"
