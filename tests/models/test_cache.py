"""The response cache, on real SQLite files, in front of real loopback HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentkit import (
    Agent,
    BadRequestError,
    ModelRequest,
    ModelSettings,
    ResponseCache,
    RetryPolicy,
    UserMessage,
    tool,
)
from agentkit.testing import FakeModel, Fault, MockChatServer, Reply
from tests.cli.test_cli import in_process

pytestmark = pytest.mark.anyio


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def script() -> list[Reply]:
    return [Reply.tool_calls(("add", {"a": 2, "b": 3}), chunk_size=4), Reply.text("5.")]


@pytest.mark.parametrize("streamed", [False, True])
async def test_a_rerun_never_reaches_the_server(tmp_path: Path, streamed: bool) -> None:
    cache = ResponseCache(tmp_path / "cache.sqlite3")
    with MockChatServer() as server:
        server.add(*script())
        outputs = []
        for _ in range(2):
            async with server.chat_model() as model:
                agent = Agent(cache.wrap(model), tools=[add])
                if streamed:
                    async with agent.stream("2+3?") as run:
                        async for _ in run:
                            pass
                    result = run.result
                else:
                    result = await agent.run("2+3?")
            outputs.append(result)
        assert len(server.requests) == 2  # the first run's two; the second run sent none
    first, second = outputs
    assert second.output == first.output == "5."
    assert [m.model_dump() for m in second.messages] == [m.model_dump() for m in first.messages]
    assert (first.usage.cache_misses, first.usage.cache_hits) == (2, 0)
    assert (second.usage.cache_hits, second.usage.requests, second.usage.total_tokens) == (2, 0, 0)
    assert (cache.hits, cache.misses) == (2, 2)


async def test_the_key_never_holds_the_api_key(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "cache.sqlite3")
    with MockChatServer() as server:
        server.add(Reply.text("once"))
        for key in ("sk-first", "sk-second"):
            async with server.chat_model(api_key=key) as model:
                assert (await Agent(cache.wrap(model)).run("hi")).output == "once"
        assert len(server.requests) == 1
    stored = (tmp_path / "cache.sqlite3").read_bytes()
    assert b"sk-first" not in stored
    assert b"sk-second" not in stored


async def test_errors_are_never_stored(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "cache.sqlite3")
    with MockChatServer() as server:
        server.add(Fault.http(400, message="bad"), Reply.text("fine"))
        async with server.chat_model(retry=RetryPolicy(max_retries=0)) as model:
            agent = Agent(cache.wrap(model))
            with pytest.raises(BadRequestError):
                await agent.run("hi")
            assert (await agent.run("hi")).output == "fine"
        assert len(server.requests) == 2


def request(**settings: object) -> ModelRequest:
    return ModelRequest(
        messages=(UserMessage(content="hi"),),
        settings=ModelSettings(**settings),  # type: ignore[arg-type]
    )


async def test_several_samples_without_a_seed_are_not_stored_unless_asked(tmp_path: Path) -> None:
    model = FakeModel(["a", "b", "c", "d"])
    cache = ResponseCache(tmp_path / "c.sqlite3")
    wrapped = cache.wrap(model)
    await wrapped.complete(request(n=2))
    await wrapped.complete(request(n=2))
    assert len(model.requests) == 2  # not stored: several samples want different answers
    await wrapped.complete(request(n=2, seed=7))
    await wrapped.complete(request(n=2, seed=7))
    assert len(model.requests) == 3  # with a seed: stored
    bold = ResponseCache(tmp_path / "d.sqlite3", cache_random=True).wrap(model)
    await bold.complete(request(n=2))
    await bold.complete(request(n=2))
    assert len(model.requests) == 4


async def test_expiry_and_the_size_bound(tmp_path: Path) -> None:
    model = FakeModel([str(n) for n in range(10)])
    expired = ResponseCache(tmp_path / "e.sqlite3", ttl=0.0).wrap(model)
    await expired.complete(request())
    await expired.complete(request())
    assert len(model.requests) == 2
    small = ResponseCache(tmp_path / "s.sqlite3", max_entries=2).wrap(model)
    for text in ("one", "two", "three", "one"):
        await small.complete(ModelRequest(messages=(UserMessage(content=text),)))
    assert len(model.requests) == 6  # "one" was the least recently used and went


def test_a_batch_rerun_with_the_cache_sends_nothing_again(tmp_path: Path) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(json.dumps({"id": str(n), "text": f"c{n}"}) + "\n" for n in range(3)))
    schema = Path(__file__).parents[1] / "cli_fixtures.py"
    with MockChatServer() as server:
        for n in range(3):
            server.add(Reply.tool_calls(("Contact", {"name": f"c{n}"})))
        env = {"AIMLAPI_API_KEY": "k", "AIMLAPI_BASE_URL": server.base_url, "PATH": "/usr/bin"}
        runs = []
        for journal in ("first", "second"):
            done = in_process(
                ["batch", "run", f"{schema}:Contact", str(inputs), "--journal",
                 str(tmp_path / f"{journal}.journal"), "--out", str(tmp_path / f"{journal}.jsonl"),
                 "--cache", str(tmp_path / "cache.sqlite3"), "--concurrency", "1", "--quiet"],
                env, "",
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            runs.append(json.loads(done.stdout))
        assert len(server.requests) == 3
    assert (runs[0]["cache_misses"], runs[0]["cache_hits"]) == (3, 0)
    assert (runs[1]["cache_misses"], runs[1]["cache_hits"]) == (0, 3)
    assert (tmp_path / "first.jsonl").read_text() == (tmp_path / "second.jsonl").read_text()


# -- what decides an answer, and what is worth keeping (hardening) ------------------------


async def test_endpoints_that_differ_in_query_headers_or_profile_do_not_share_answers(
    tmp_path: Path,
) -> None:
    from agentkit import ChatModel, ModelProfile

    cache = ResponseCache(tmp_path / "cache.sqlite3")
    with MockChatServer() as server:
        server.add(*[Reply.text(f"answer {n}") for n in range(4)])
        base = {"base_url": server.base_url, "model": "m"}
        models = [
            ChatModel(**base, query={"api-version": "2024-01-01"}),
            ChatModel(**base, query={"api-version": "2025-01-01"}),
            ChatModel(**base, headers={"OpenAI-Organization": "org-b"}),
            ChatModel(**base, profile=ModelProfile(strict_tools=False)),
        ]
        answers = []
        for each in models:
            async with each:
                answers.append((await Agent(cache.wrap(each)).run("hi")).output)
    assert answers == [f"answer {n}" for n in range(4)]


async def test_the_key_itself_never_decides_the_key(tmp_path: Path) -> None:
    from agentkit import ChatModel

    cache = ResponseCache(tmp_path / "cache.sqlite3")
    request = ModelRequest(messages=[UserMessage(content="hi")])
    one = ChatModel(base_url="http://127.0.0.1:9/v1", model="m", api_key="sk-aaaaaaaa",
                    headers={"api-key": "sk-bbbbbbbb"})  # fmt: skip
    other = ChatModel(base_url="http://127.0.0.1:9/v1", model="m", api_key="sk-cccccccc",
                      headers={"api-key": "sk-dddddddd"})  # fmt: skip
    assert cache.key(one, request) == cache.key(other, request)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(refusal="I can't help with that."),
        Reply(content="", finish_reason="length"),
        Reply(content="half an ans", finish_reason="length"),
        Reply(content="[filtered]", finish_reason="content_filter"),
    ],
)
async def test_only_complete_answers_are_stored(tmp_path: Path, reply: Reply) -> None:
    cache = ResponseCache(tmp_path / "cache.sqlite3")
    request = ModelRequest(messages=[UserMessage(content="hi")])
    model = cache.wrap(FakeModel([reply, reply]))
    await model.complete(request)
    await model.complete(request)
    assert (cache.hits, cache.misses) == (0, 2)


async def test_a_damaged_cache_is_a_miss_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "cache.sqlite3"
    path.write_bytes(b"this is not a database, it is a damaged file" * 100)
    cache = ResponseCache(path)
    model = cache.wrap(FakeModel(["one", "two"]))
    request = ModelRequest(messages=[UserMessage(content="hi")])
    assert (await model.complete(request)).message.content == "one"
    assert (await model.complete(request)).message.content == "two"
    warned = [r for r in caplog.records if "is damaged" in r.getMessage()]
    assert len(warned) == 1
    assert "delete the file" in warned[0].getMessage()


async def test_an_unreadable_row_is_a_miss(tmp_path: Path) -> None:
    import sqlite3

    cache = ResponseCache(tmp_path / "cache.sqlite3")
    request = ModelRequest(messages=[UserMessage(content="hi")])
    model = cache.wrap(FakeModel(["stored", "asked again"]))
    await model.complete(request)
    cache.close()
    with sqlite3.connect(cache.path) as db:
        db.execute("UPDATE answers SET completion = '{not json'")
    assert (await model.complete(request)).message.content == "asked again"


async def test_a_locked_cache_is_a_miss_not_a_stall(tmp_path: Path) -> None:
    """Before: SQLite waited up to 30 s on the event loop while another process held the file."""
    import sqlite3
    import time

    cache = ResponseCache(tmp_path / "cache.sqlite3")
    request = ModelRequest(messages=[UserMessage(content="hi")])
    model = cache.wrap(FakeModel(["first", "second"]))
    await model.complete(request)  # stored
    cache.close()
    holder = sqlite3.connect(cache.path, isolation_level=None)
    holder.execute("PRAGMA journal_mode = DELETE")
    holder.execute("BEGIN EXCLUSIVE")  # another process writing, as far as SQLite can tell
    try:
        started = time.monotonic()
        answer = await model.complete(request)
        assert time.monotonic() - started < 5  # a hang guard: the wait is 0.02 s
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert answer.message.content == "second"  # a miss: the model answered


def test_the_key_follows_every_part_of_the_request_though_parts_are_remembered(
    tmp_path: Path,
) -> None:
    """Digests are remembered by identity (#26: a hit no longer re-serializes the history),
    so a changed model, settings object, tool or message order must still change the key."""
    from agentkit import AssistantMessage, ChatModel, ModelProfile

    @tool
    def sub(a: int, b: int) -> int:
        """Subtract."""
        return a - b

    cache = ResponseCache(tmp_path / "cache.sqlite3")
    model = ChatModel(base_url="http://127.0.0.1:9/v1", model="m", api_key="k")
    first, second = UserMessage(content="a"), AssistantMessage(content="b")
    settings = ModelSettings(max_tokens=5)
    base = ModelRequest(messages=[first, second], tools=(add.definition(),), settings=settings)
    key = cache.key(model, base)
    assert cache.key(model, base) == key  # remembered, same answer
    variants = [
        ModelRequest(messages=[second, first], tools=base.tools, settings=settings),
        ModelRequest(messages=[first], tools=base.tools, settings=settings),
        ModelRequest(messages=[first, second], tools=(sub.definition(),), settings=settings),
        ModelRequest(messages=[first, second], tools=(), settings=settings),
        ModelRequest(
            messages=base.messages, tools=base.tools, settings=ModelSettings(max_tokens=6)
        ),
    ]
    keys = {cache.key(model, each) for each in variants}
    assert len(keys) == len(variants)
    assert key not in keys
    model.profile = ModelProfile(strict_tools=False)  # the same model object, changed
    assert cache.key(model, base) != key
    model.base_url = "http://127.0.0.1:10/v1"
    assert len({key, cache.key(model, base)}) == 2
