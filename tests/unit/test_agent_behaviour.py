"""Behaviour of the voice agent in an AgentSession without a room (scripted LLMs, no services)."""

from __future__ import annotations

import asyncio

import pytest
from livekit.agents import AgentSession, APIConnectionError, llm
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions

from services.agent import metrics
from services.agent.brain import Lookup, classify_lookup_error, last_user_turn
from services.agent.voice import SORRY_EMPTY, SORRY_INTERRUPTED, SORRY_UNAVAILABLE, LettaVoiceAgent
from services.shared.settings import Settings

pytestmark = pytest.mark.unit

AID = "agent-00000000-0000-0000-0000-000000000001"


class ScriptedLLM(llm.LLM):
    """Streams the given pieces, then raises ``fail`` if set; records what each request carried."""

    def __init__(self, pieces: list[str], fail: Exception | None = None) -> None:
        super().__init__()
        self.pieces, self.fail = pieces, fail
        self.requests: list[llm.ChatContext] = []

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        **_: object,
    ) -> llm.LLMStream:
        self.requests.append(chat_ctx)
        return _ScriptedStream(self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options)


class _ScriptedStream(llm.LLMStream):
    async def _run(self) -> None:
        assert isinstance(self._llm, ScriptedLLM)
        for i, piece in enumerate(self._llm.pieces):
            delta = llm.ChoiceDelta(role="assistant", content=piece)
            self._event_ch.send_nowait(llm.ChatChunk(id=f"c{i}", delta=delta))
        if self._llm.fail is not None:
            raise self._llm.fail


async def _reply(brain: ScriptedLLM, *turns: str) -> list[str]:
    """Run text turns through the agent; return each turn's assistant message text."""
    texts = []
    async with AgentSession() as session:
        await session.start(LettaVoiceAgent(Settings(), AID, brain=brain))
        for turn in turns:
            result = await session.run(user_input=turn)
            msg = result.expect.next_event(type="message").event().item
            assert msg.role == "assistant"
            texts.append(msg.text_content or "")
    return texts


def _count(counter, **labels) -> float:
    return counter.labels(**labels)._value.get()


def test_reply_streams_from_the_brain() -> None:
    assert asyncio.run(_reply(ScriptedLLM(["Hello ", "Ada."]), "my name is Ada")) == ["Hello Ada."]


def test_only_the_last_user_turn_is_sent_to_letta() -> None:
    brain = ScriptedLLM(["ok"])
    asyncio.run(_reply(brain, "first", "second"))
    last = brain.requests[-1]
    assert [(m.role, m.text_content) for m in last.messages()] == [("user", "second")]


def test_letta_down_is_a_spoken_sorry_and_the_next_turn_works() -> None:
    brain = ScriptedLLM([], fail=APIConnectionError("Letta is down", retryable=False))
    before = _count(metrics.FAULTS, kind="letta")

    async def run() -> list[str]:
        texts = []
        async with AgentSession() as session:
            await session.start(LettaVoiceAgent(Settings(), AID, brain=brain))
            for _ in range(5):  # more than livekit-agents' default of 3 unrecoverable errors
                result = await session.run(user_input="hello?")
                texts.append(result.expect.next_event(type="message").event().item.text_content)
            brain.fail, brain.pieces = None, ["I am back."]
            result = await session.run(user_input="hello?")
            texts.append(result.expect.next_event(type="message").event().item.text_content)
        return texts

    texts = asyncio.run(run())
    assert texts[:5] == [SORRY_UNAVAILABLE] * 5
    assert texts[5] == "I am back."
    assert _count(metrics.FAULTS, kind="letta") == before + 5


def test_error_mid_reply_ends_with_a_short_sorry() -> None:
    brain = ScriptedLLM(["The answer is"], fail=APIConnectionError("reset", retryable=False))
    (text,) = asyncio.run(_reply(brain, "question"))
    assert text.startswith("The answer is") and text.endswith(SORRY_INTERRUPTED)


def test_empty_reply_is_not_silence() -> None:
    assert [t.strip() for t in asyncio.run(_reply(ScriptedLLM(["   "]), "hm"))] == [SORRY_EMPTY]


def test_last_user_turn_picks_the_newest_user_message() -> None:
    ctx = llm.ChatContext()
    ctx.add_message(role="system", content="instructions")
    ctx.add_message(role="user", content="one")
    ctx.add_message(role="assistant", content="reply")
    ctx.add_message(role="user", content="two")
    ctx.add_message(role="assistant", content="greeting after")
    assert [m.text_content for m in last_user_turn(ctx).messages()] == ["two"]
    assert last_user_turn(llm.ChatContext()).items == []


def test_lookup_errors_are_classified() -> None:
    import httpx
    import letta_client

    def status_error(code: int) -> Exception:
        request = httpx.Request("GET", "http://letta/v1/agents/x")
        response = httpx.Response(code, request=request)
        return letta_client.APIStatusError("err", response=response, body=None)

    assert classify_lookup_error(status_error(404)).result is Lookup.MISSING
    assert classify_lookup_error(status_error(422)).result is Lookup.MISSING
    assert classify_lookup_error(status_error(500)).result is Lookup.UNAVAILABLE
    assert classify_lookup_error(status_error(401)).result is Lookup.UNAVAILABLE
    assert classify_lookup_error(ConnectionError()).result is Lookup.UNAVAILABLE


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            {"type": "eou_metrics", "end_of_utterance_delay": 0.5, "transcription_delay": 0.2},
            [("eou", 0.5), ("stt", 0.2)],
        ),
        ({"type": "llm_metrics", "ttft": 0.4, "duration": 2.0}, [("llm_ttft", 0.4)]),
        ({"type": "llm_metrics", "ttft": -1}, []),
        ({"type": "tts_metrics", "ttfb": 0.05}, [("tts_ttfb", 0.05)]),
        ({"type": "vad_metrics", "idle_time": 3.0}, []),
    ],
)
def test_stage_observations(event: dict, expected: list) -> None:
    assert metrics.stage_observations(event) == expected


def test_record_turn_counts_and_records_total() -> None:
    before = _count(metrics.TURNS, role="assistant")
    metrics.record_turn("assistant", {"e2e_latency": 1.1})
    metrics.record_turn("assistant", {})
    assert _count(metrics.TURNS, role="assistant") == before + 2
