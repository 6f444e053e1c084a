"""Long runs: history processors, compaction and the too-long error, against a real loopback
server that enforces a context window and answers as providers do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentkit import (
    Agent,
    AssistantMessage,
    ContextWindowExceeded,
    HistoryContext,
    HistoryError,
    ToolMessage,
    UsageLimitExceeded,
    UsageLimits,
    UserMessage,
    clear_old_tool_results,
    compact,
    keep_last_turns,
    truncate_tool_results,
)
from agentkit.models import ModelProfile
from agentkit.models._retry import RetryPolicy
from agentkit.models._wire_read import decode_error
from agentkit.testing import MockChatServer, Reply
from tests.cli_fixtures import read_page
from tests.loopback import chat, closes_models  # noqa: F401 (closes what chat makes)

pytestmark = pytest.mark.anyio
FIXTURES = json.loads((Path(__file__).parents[1] / "data" / "context_errors.json").read_text())


def pages(total: int) -> Any:
    """A model that reads `total` pages one by one, then answers; summaries on request.

    Its progress is the highest page it asked for in what it is sent, so a trimmed or
    compacted history (which keeps the last turns) does not start it over.
    """

    def respond(request: Any) -> Reply:
        messages = request.messages
        if messages and "Summarise the conversation" in str(messages[0].get("content")):
            return Reply.text(f"{len(messages)} messages read; pages so far are lorem ipsum")
        asked = [
            json.loads(call["function"]["arguments"])["page"]
            for m in messages
            for call in m.get("tool_calls") or []
        ]
        last = max(asked, default=0)
        if last >= total:
            return Reply.text(f"read all {total} pages")
        return Reply.tool_calls(("read_page", {"page": last + 1}))

    return respond


# -- the error ----------------------------------------------------------------------------


@pytest.mark.parametrize("provider", [k for k in FIXTURES if not k.startswith("_")])
async def test_each_providers_too_long_answer_is_context_window_exceeded(provider: str) -> None:
    case = FIXTURES[provider]
    error = decode_error(case["status"], {}, json.dumps(case["body"]).encode(), "application/json")
    assert isinstance(error, ContextWindowExceeded)
    assert not RetryPolicy().is_retryable(error)  # llama.cpp's 500 is not retried either


async def test_other_bad_requests_are_not_context_errors() -> None:
    body = {"error": {"message": "messages[0].role is invalid", "code": "invalid_value"}}
    error = decode_error(400, {}, json.dumps(body).encode(), "application/json")
    assert not isinstance(error, ContextWindowExceeded)


async def test_without_processors_the_run_ends_with_the_error_and_its_partial_result() -> None:
    async with MockChatServer(responder=pages(50), context_window=1000) as server:
        agent = Agent(chat(server), tools=[read_page], max_turns=60)
        with pytest.raises(ContextWindowExceeded) as caught:
            await agent.run("Read the document")
    error = caught.value
    assert error.result is not None
    assert len(error.result.turns) >= 3  # the pages read before the window was full
    assert error.estimate is not None
    assert error.estimate > 1000
    assert "history_processors=[compact()]" in "".join(getattr(error, "__notes__", []))
    assert server.refused_as_too_long == 1


# -- mechanical processors ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("processors", "window"),
    [([keep_last_turns(3)], 2_000), ([clear_old_tool_results(keep=2)], 20_000)],
    ids=["keep", "clear"],
)
async def test_a_300_turn_run_finishes_inside_a_small_window(
    processors: list[Any], window: int
) -> None:
    # 300 pages of ~500 characters: ~45,000 tokens if all were sent.
    async with MockChatServer(responder=pages(300), context_window=window) as server:
        agent = Agent(chat(server), tools=[read_page], history_processors=processors, max_turns=400)
        result = await agent.run("Read the document")
    assert result.output == "read all 300 pages"
    assert server.refused_as_too_long == 0
    assert len(result.messages) == 1 + 2 * 300 + 1  # what is stored stays whole
    assert all(t.prompt_estimate for t in result.turns)


async def test_truncate_cuts_long_results_and_says_how_much() -> None:
    context = HistoryContext(None, "m", None, 0, 0)
    call = AssistantMessage(tool_calls=())
    long = ToolMessage(tool_call_id="c", content="x" * 100)
    out = truncate_tool_results(10)([UserMessage(content="hi"), call, long], context)
    assert isinstance(out, list)
    assert out[2].content.startswith("x" * 10)
    assert "90 of 100 characters left out" in out[2].content


# -- compaction ---------------------------------------------------------------------------


async def test_compaction_before_the_window_is_reached() -> None:
    compactor = compact(keep_last=2)
    async with MockChatServer(responder=pages(60), context_window=6_000) as server:
        model = chat(server, profile=ModelProfile(context_window=6_000))
        agent = Agent(model, tools=[read_page], history_processors=[compactor], max_turns=100)
        result = await agent.run("Read the document")
    assert result.output == "read all 60 pages"
    assert compactor.compactions >= 1
    assert server.refused_as_too_long == 0
    sent = [json.dumps(r.messages) for r in server.requests]
    assert any("[Summary of the earlier conversation" in s for s in sent)
    assert len(result.messages) == 1 + 2 * 60 + 1


async def test_a_refused_prompt_is_compacted_and_sent_again() -> None:
    compactor = compact(keep_last=2)  # no window known: it compacts when the provider refuses
    async with MockChatServer(responder=pages(30), context_window=3_000) as server:
        agent = Agent(chat(server), tools=[read_page], history_processors=[compactor],
                      max_turns=60)  # fmt: skip
        result = await agent.run("Read the document")
    assert result.output == "read all 30 pages"
    assert result.compactions >= 1
    assert server.refused_as_too_long == result.compactions


# -- bad processors -----------------------------------------------------------------------


def _raises(messages: list[Any], context: HistoryContext) -> list[Any]:
    raise RuntimeError("boom")


def _empties(messages: list[Any], context: HistoryContext) -> list[Any]:
    return []


def _orphans(messages: list[Any], context: HistoryContext) -> list[Any]:
    first = next((i for i, m in enumerate(messages) if isinstance(m, ToolMessage)), 0)
    return messages[first:]  # from the first tool result on


def _drops_results(messages: list[Any], context: HistoryContext) -> list[Any]:
    return [m for m in messages if not isinstance(m, ToolMessage)]


@pytest.mark.parametrize(
    ("processor", "words"),
    [
        (_raises, "_raises raised RuntimeError: boom"),
        (_empties, "_empties left no message"),
        (_orphans, "_orphans made the history start with a tool result"),
        (_drops_results, "_drops_results dropped the results of tool calls"),
    ],
)
async def test_a_bad_processor_ends_the_run_naming_it(processor: Any, words: str) -> None:
    async with MockChatServer(responder=pages(3)) as server:
        agent = Agent(chat(server), tools=[read_page], history_processors=[processor])
        with pytest.raises(HistoryError, match=words) as caught:
            await agent.run("Read")
    assert caught.value.result is not None


async def test_an_async_processor_is_awaited() -> None:
    seen: list[int] = []

    async def count(messages: list[Any], context: HistoryContext) -> list[Any]:
        seen.append(context.turn)
        return messages

    async with MockChatServer(responder=pages(2)) as server:
        await Agent(chat(server), tools=[read_page], history_processors=[count]).run("Read")
    assert seen == [0, 1, 2]


async def test_the_per_request_input_cap_stops_before_sending() -> None:
    # A wide window: the server only counts the prompt as providers do (the estimate's base).
    async with MockChatServer(responder=pages(50), context_window=100_000) as server:
        agent = Agent(chat(server), tools=[read_page], max_turns=60,
                      limits=UsageLimits(request_input_tokens=800))  # fmt: skip
        with pytest.raises(UsageLimitExceeded, match="request_input_tokens=800") as caught:
            await agent.run("Read the document")
    sent = len(server.requests)
    assert caught.value.result is not None
    assert len(caught.value.result.turns) == sent


async def test_a_session_continued_later_starts_from_its_compaction_summary(
    tmp_path: Path,
) -> None:
    from agentkit import SQLiteSession

    store = tmp_path / "sessions.sqlite3"
    async with MockChatServer(responder=pages(30), context_window=3_000) as server:
        agent = Agent(chat(server), tools=[read_page], history_processors=[compact(keep_last=2)],
                      max_turns=60)  # fmt: skip
        session = SQLiteSession(session_id="reading", path=store)
        first = await agent.run("Read the document", session=session)
        assert first.compactions >= 1
        kept = session.compaction()
        assert kept is not None
        assert kept["covered"] > 2
        summaries = sum("Summarise the conversation" in json.dumps(r.messages)
                        for r in server.requests)  # fmt: skip

        # The next day: a new process, a new agent and compactor; the summary is the session's.
        later = Agent(chat(server), tools=[read_page], history_processors=[compact(keep_last=2)])
        before = len(server.requests)
        await later.run("And now the summary, please", session=SQLiteSession(store, "reading"))
        sent = json.dumps(server.requests[before].messages)
    assert "[Summary of the earlier conversation" in sent  # from the stored summary
    assert sum("Summarise the conversation" in json.dumps(r.messages)
               for r in server.requests) == summaries  # no new summary was asked  # fmt: skip


async def test_a_compaction_shows_on_the_timeline_as_a_request(tmp_path: Path) -> None:
    from agentkit._observe import Timeline
    from agentkit._observe._trace_view import read_events

    trace = tmp_path / "run.jsonl"
    async with MockChatServer(responder=pages(30), context_window=3_000) as server:
        agent = Agent(chat(server), tools=[read_page], history_processors=[compact(keep_last=2)],
                      max_turns=60, instrument=[Timeline(trace)])  # fmt: skip
        result = await agent.run("Read the document")
    events = read_events(trace.read_text().splitlines())
    started = [e for e in events if e["event"] == "request_started"]
    summaries = [e for e in started if "Summarise the conversation" in json.dumps(e["messages"])]
    assert summaries  # the summary request has its own bar
    assert len(started) == len(result.turns) + len(summaries) + result.compactions


async def test_clearing_reuses_last_turn_and_still_equals_a_fresh_clearing() -> None:
    """clear_old_tool_results remembers what it cleared last turn (#30: not O(history) of new
    placeholders each turn); shared by two interleaved runs, or given a history that changed
    under it, it must still answer as a processor that remembers nothing."""
    from agentkit import ToolCall

    def grow(tag: str, turns: int) -> list[list[Any]]:
        history: list[Any] = [UserMessage(content=f"task {tag}")]
        stages = []
        for n in range(turns):
            call = ToolCall(id=f"{tag}{n}", name="read", arguments="{}")
            history = [
                *history,
                AssistantMessage(content=None, tool_calls=[call]),
                ToolMessage(tool_call_id=call.id, content=f"{tag} result {n} " * 20),
            ]
            stages.append(history)
        return stages

    context = HistoryContext(None, "m", None, 0, 0)
    shared = clear_old_tool_results(3)
    first, second = grow("a", 12), grow("b", 12)
    for one, two in zip(first, second, strict=True):
        for history in (one, two):  # two runs take turns with one processor
            assert shared(history, context) == clear_old_tool_results(3)(history, context)
    edited = [*first[-1][:5], UserMessage(content="changed"), *first[-1][6:]]
    assert shared(edited, context) == clear_old_tool_results(3)(edited, context)
    again = shared(first[-1], context)
    placeholders = [m for m in again if isinstance(m, ToolMessage) and "cleared" in m.content]
    assert len(placeholders) == 12 - 3
    assert shared(first[-1], context)[2] is again[2]  # the same placeholder object each turn
