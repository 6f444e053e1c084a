"""extract(): forced tool calls, validation retries, candidates, partial streaming."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from agentkit import (
    Agent,
    AssistantMessage,
    ExtractionError,
    Extractor,
    ToolMessage,
    UserMessage,
    UseTool,
    extract,
    extract_sync,
)
from agentkit.testing import FakeModel, MockChatServer, Reply, ScriptedCall
from tests.extraction_types import Cat, Contact, Dog, Invoice, Movie, Point
from tests.spec import DEFAULT_MODEL

pytestmark = pytest.mark.anyio

INVOICE = {
    "number": "INV-7",
    "customer": "ACME",
    "items": [{"description": "bolts", "quantity": 10, "unit_price": 0.5}],
    "total": 5.0,
}
TEXT = "Invoice INV-7 for ACME: 10 bolts at 0.50, total 5.00."


def call(name: str, arguments: Any) -> Reply:
    return Reply.tool_calls((name, arguments))


@pytest.mark.parametrize(
    ("output_type", "arguments", "expected"),
    [
        (Invoice, INVOICE, Invoice.model_validate(INVOICE)),
        (Point, {"x": 1, "y": 2.5}, Point(1, 2.5)),
        (Movie, {"title": "Up", "year": None}, {"title": "Up"}),
        (
            list[Contact],
            {"items": [{"name": "Ann", "email": None}, {"name": "Bo", "email": "b@x.io"}]},
            [Contact(name="Ann"), Contact(name="Bo", email="b@x.io")],
        ),
    ],
    ids=["model", "dataclass", "typeddict", "list"],
)
async def test_each_output_kind(output_type: Any, arguments: dict[str, Any], expected: Any) -> None:
    tool_name = {Invoice: "Invoice", Point: "Point", Movie: "Movie"}.get(output_type, "ContactList")
    model = FakeModel([call(tool_name, arguments)])
    assert await extract(output_type, TEXT, model=model) == expected
    settings = model.requests[0].settings
    assert settings.tool_choice == UseTool(tool_name)
    assert settings.parallel_tool_calls is False
    assert [t.name for t in model.requests[0].tools] == [tool_name]


async def test_a_union_offers_one_tool_per_member() -> None:
    model = FakeModel([call("Dog", {"kind": "dog", "name": "Rex", "good": None})])
    value = await extract(Cat | Dog, "Rex is a good dog.", model=model)
    assert value == Dog(name="Rex")
    assert [t.name for t in model.requests[0].tools] == ["Cat", "Dog"]
    assert model.requests[0].settings.tool_choice == "required"


async def test_a_validation_error_is_sent_back_and_corrected() -> None:
    bad = {**INVOICE, "number": "7"}
    model = FakeModel([call("Invoice", bad), call("Invoice", INVOICE)])
    result = await Extractor(Invoice, model=model).run(TEXT)
    assert result.value.number == "INV-7"
    assert len(result.attempts) == 2
    second = model.requests[1].messages
    assert isinstance(second[-2], AssistantMessage)
    correction = second[-1]
    assert isinstance(correction, ToolMessage)
    assert "number: Value error, invoice numbers start with INV-" in correction.content
    assert result.usage.requests == 2


async def test_exhausted_retries_raise_with_every_attempt() -> None:
    model = FakeModel([call("Invoice", {"number": "x"})] * 3)
    with pytest.raises(ExtractionError) as caught:
        await extract(Invoice, TEXT, model=model, max_retries=2)
    error = caught.value
    assert error.reason == "invalid"
    assert len(error.attempts) == 3
    assert error.attempts[0].candidates[0].raw == '{"number": "x"}'
    assert "customer: missing required argument" in error.attempts[-1].errors[0]
    assert error.usage.requests == 3


async def test_a_plain_text_reply_gets_a_specific_message() -> None:
    model = FakeModel(["I think the invoice is INV-7.", call("Invoice", INVOICE)])
    result = await Extractor(Invoice, model=model).run(TEXT)
    assert (
        "answered with text instead of calling the extraction tool" in result.attempts[0].errors[0]
    )
    assert isinstance(model.requests[1].messages[-1], UserMessage)


async def test_a_refusal_stops_at_once() -> None:
    model = FakeModel([Reply(refusal="I can't help with that."), call("Invoice", INVOICE)])
    with pytest.raises(ExtractionError, match="refused") as caught:
        await extract(Invoice, TEXT, model=model)
    assert caught.value.reason == "refused"
    assert len(model.requests) == 1


async def test_a_truncated_answer_says_so() -> None:
    cut = Reply(
        calls=(ScriptedCall("Invoice", '{"number": "INV-7", "cust'),), finish_reason="length"
    )
    with pytest.raises(ExtractionError) as caught:
        await extract(Invoice, TEXT, model=FakeModel([cut]), max_retries=0)
    assert "cut off by max_tokens" in caught.value.attempts[0].errors[0]


async def test_n_candidates_first_valid_wins() -> None:
    reply = Reply(
        calls=(ScriptedCall("Contact", '{"name": 3}'),),
        alternatives=(Reply.tool_calls(("Contact", {"name": "Ann", "email": None})),),
    )
    model = FakeModel([reply])
    result = await Extractor(Contact, model=model, n=2).run("Ann")
    assert result.value == Contact(name="Ann")
    assert model.requests[0].settings.n == 2
    assert [c.error is None for c in result.candidates] == [False, True]


async def test_n_candidates_vote_for_the_majority() -> None:
    ann = Reply.tool_calls(("Contact", {"name": "Ann", "email": None}))
    bob = Reply.tool_calls(("Contact", {"email": None, "name": "Bob"}))
    reply = Reply(
        calls=ann.calls,
        alternatives=(
            bob,
            Reply(calls=(ScriptedCall("Contact", '{"name": "Bob", "email": null}'),)),
            ann,
            bob,
        ),
    )
    first = await Extractor(Contact, model=FakeModel([reply]), n=5).extract("x")
    voted = await Extractor(Contact, model=FakeModel([reply]), n=5, strategy="vote").extract("x")
    assert first.name == "Ann"
    assert voted.name == "Bob"


async def test_json_schema_mode() -> None:
    model = FakeModel(["{not json", json.dumps({"name": "Ann", "email": None})])
    value = await extract(Contact, "Ann", model=model, mode="json_schema")
    assert value == Contact(name="Ann")
    response_format = model.requests[0].settings.response_format
    assert response_format is not None
    assert response_format.type == "json_schema"
    assert "not valid JSON" in str(model.requests[1].messages[-1].content)


async def test_usage_and_credits_add_up() -> None:
    meta = {"usage": {"credits_used": 21, "usd_spent": 0.00001}}
    model = FakeModel(
        [
            Reply(calls=call("Contact", {"name": 1}).calls, meta=meta),
            Reply(calls=call("Contact", {"name": "A", "email": None}).calls, meta=meta),
        ]
    )
    result = await Extractor(Contact, model=model).run("A")
    assert result.usage.credits_used == 42
    assert result.usage.requests == 2


async def test_seed_and_settings_are_sent() -> None:
    model = FakeModel([call("Contact", {"name": "A", "email": None})])
    await extract(Contact, "A", model=model, seed=7)
    assert model.requests[0].settings.seed == 7


async def test_partial_objects_stream_in_monotonically() -> None:
    arguments = json.dumps(INVOICE)
    model = FakeModel([Reply(calls=(ScriptedCall("Invoice", arguments),), chunk_size=7)])
    updates = [update async for update in Extractor(Invoice, model=model).stream(TEXT)]
    assert len(updates) > 3
    assert updates[-1] == Invoice.model_validate(INVOICE)
    fields = [set(update.__dict__) for update in updates]
    assert all(a <= b for a, b in itertools.pairwise(fields))
    assert "number" in fields[0] or "number" in fields[1]


async def test_a_long_streamed_answer_is_not_re_read_at_every_delta() -> None:
    items = [
        {"description": f"item {i} " + "x" * 40, "quantity": i, "unit_price": 1.0}
        for i in range(800)
    ]
    arguments = json.dumps({**INVOICE, "items": items})  # about 60 KB, in 16-character deltas
    model = FakeModel([Reply(calls=(ScriptedCall("Invoice", arguments),), chunk_size=16)])
    updates = [update async for update in Extractor(Invoice, model=model).stream(TEXT)]
    assert len(arguments) // 16 > 3500
    assert 20 < len(updates) < 400  # partials keep coming, but not one per delta
    assert len(updates[-1].items) == 800


async def test_messages_can_be_given_instead_of_text() -> None:
    model = FakeModel([call("Contact", {"name": "A", "email": None})])
    await extract(
        Contact, [UserMessage(content="first"), UserMessage(content="second")], model=model
    )
    assert [m.role for m in model.requests[0].messages] == ["system", "user", "user"]


def test_extract_sync() -> None:
    model = FakeModel([call("Contact", {"name": "Sync", "email": None})])
    assert extract_sync(Contact, "x", model=model).name == "Sync"


async def test_json_schema_mode_carries_a_union_as_a_result() -> None:
    answer = json.dumps({"result": {"kind": "dog", "name": "Rex", "good": True}})
    model = FakeModel([answer])
    value = await extract(Cat | Dog, "Rex", model=model, mode="json_schema")
    assert value == Dog(name="Rex", good=True)
    response_format = model.requests[0].settings.response_format
    assert response_format is not None
    assert response_format.name == "CatOrDog"
    assert list(response_format.schema_["properties"]) == ["result"]


async def test_any_type_pydantic_validates_can_be_extracted() -> None:
    model = FakeModel([call("int", {"result": 7})])
    assert await extract(int, "seven", model=model) == 7
    model = FakeModel([call("ContactOrNone", {"result": None})])
    assert await extract(Contact | None, "nobody here", model=model) is None
    assert [t.name for t in model.requests[0].tools] == ["ContactOrNone"]


async def test_a_named_union_names_each_member_tool() -> None:
    model = FakeModel([call("pet_Cat", {"kind": "cat", "name": "Tom"})])
    assert await extract(Cat | Dog, "Tom", model=model, name="pet") == Cat(name="Tom")
    assert [t.name for t in model.requests[0].tools] == ["pet_Cat", "pet_Dog"]


# --- over real HTTP, both schemas checked ------------------------------------------------


@pytest.mark.parametrize("mode", ["tool", "json_schema"])
async def test_extraction_over_http(server: MockChatServer, mode: str) -> None:
    good = json.dumps(INVOICE)
    bad = json.dumps({**INVOICE, "total": "lots"})
    if mode == "tool":
        server.add(
            Reply(calls=(ScriptedCall("Invoice", bad),)),
            Reply(calls=(ScriptedCall("Invoice", good),)),
        )
    else:
        server.add(Reply.text(bad), Reply.text(good))
    async with server.chat_model(model=DEFAULT_MODEL) as model:
        result = await Extractor(Invoice, model=model, mode=mode, seed=3, n=1).run(TEXT)  # type: ignore[arg-type]
    assert result.value.total == 5.0
    first = server.requests[0].body
    if mode == "tool":
        assert first["tool_choice"] == {"type": "function", "function": {"name": "Invoice"}}
        assert first["parallel_tool_calls"] is False
    else:
        assert first["response_format"]["type"] == "json_schema"


async def test_streamed_extraction_over_http(server: MockChatServer) -> None:
    server.add(Reply(calls=(ScriptedCall("Invoice", json.dumps(INVOICE)),), chunk_size=9))
    async with server.chat_model(model=DEFAULT_MODEL) as model:
        updates = [u async for u in Extractor(Invoice, model=model).stream(TEXT)]
    assert updates[-1] == Invoice.model_validate(INVOICE)
    assert isinstance(updates[0], Invoice)


# --- one closing rule, shared with agents -------------------------------------------------


class Counted(FakeModel):
    """A model that counts how often it was closed."""

    closed = 0

    async def aclose(self) -> None:
        self.closed += 1


async def test_a_given_model_stays_open_after_extract_and_closes_with_the_extractor() -> None:
    model = Counted([call("Contact", {"name": "A", "email": None})] * 2)
    await extract(Contact, "x", model=model)
    assert model.closed == 0  # the caller's to close
    chained = Counted([call("Contact", {"name": "A", "email": None})])
    await extract(Contact, "x", model=[chained])
    assert chained.closed == 0  # inside a chain too
    async with Extractor(Contact, model=model) as extractor:
        await extractor.extract("x")
    assert model.closed == 1


def test_the_synchronous_calls_close_the_model_they_ran_on() -> None:
    model = Counted([call("Contact", {"name": "A", "email": None})])
    extract_sync(Contact, "x", model=model)
    assert model.closed == 1  # its connections belonged to the event loop that ended
    agent_model = Counted(["done"])
    Agent(agent_model).run_sync("go")
    assert agent_model.closed == 1


def test_a_chain_of_model_strings_is_built_here_and_so_closed_here() -> None:
    from agentkit._model_holder import built_here

    assert built_here({})
    assert built_here({"model": "openai:gpt-4.1"})
    assert built_here({"model": ["openai:gpt-4.1", "openai:gpt-4.1-mini"]})
    assert not built_here({"model": FakeModel()})
    assert not built_here({"model": ["openai:gpt-4.1", FakeModel()]})  # the caller's, in part


async def test_text_itself_can_be_extracted_through_the_tool() -> None:
    """`str` is an agent's plain answer; extraction forces it through a tool like any type."""
    model = FakeModel([call("str", {"result": "Rex"})])
    assert await extract(str, "the dog's name", model=model) == "Rex"
    assert model.requests[0].settings.tool_choice == UseTool("str")
