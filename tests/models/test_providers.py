"""Providers, model strings and profiles, each request checked on a real loopback server.

For every provider a MockChatServer stands in for the service: the provider's base-URL
variable points at it, and the test reads back the path, the headers and the body that a
run with the same agent and settings sent. The expected shapes are written out here, by
hand, from the providers' documentation (docs/providers.md), not computed from the profiles.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pydantic import BaseModel

from agentkit import (
    Agent,
    DeveloperMessage,
    LoopPolicy,
    ModelConfigurationError,
    ModelProfile,
    ModelRequest,
    ModelSettings,
    SettingDroppedWarning,
    UserMessage,
    extract,
    infer_model,
    tool,
)
from agentkit.models import PROVIDERS
from agentkit.models._chat_wire import encode_request
from agentkit.testing import MockChatServer, Reply
from tests.cli.test_cli import in_process
from tests.spec import openai_validator

pytestmark = pytest.mark.anyio


@tool(strict=True)
def lookup(city: str) -> str:
    """Look a city up.

    Args:
        city: The city.
    """
    return f"{city}: sunny"


@dataclass(frozen=True)
class Shape:
    """What one provider's first request must look like."""

    model: str
    path: str
    auth: tuple[str, str] | None
    """The header that carries the key and its value; None: no key header at all."""
    tokens: str = "max_tokens"
    strict: bool = True
    instructions_role: str = "system"
    temperature: bool = True


KEY = "sk-provider-test"
SHAPES = {
    "aimlapi": Shape(
        "openai/gpt-5-2-chat-latest", "/v1/chat/completions", ("authorization", f"Bearer {KEY}")
    ),
    "openai": Shape(
        "gpt-4.1",
        "/v1/chat/completions",
        ("authorization", f"Bearer {KEY}"),
        tokens="max_completion_tokens",
    ),
    "azure": Shape(
        "prod-gpt4o",
        "/openai/deployments/prod-gpt4o/chat/completions?api-version=2024-10-21",
        ("api-key", KEY),
        tokens="max_completion_tokens",
    ),
    "openrouter": Shape(
        "openai/gpt-4.1-mini", "/v1/chat/completions", ("authorization", f"Bearer {KEY}")
    ),
    "groq": Shape(
        "llama-3.3-70b-versatile",
        "/v1/chat/completions",
        ("authorization", f"Bearer {KEY}"),
        tokens="max_completion_tokens",
        strict=False,
    ),
    "together": Shape(
        "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "/v1/chat/completions",
        ("authorization", f"Bearer {KEY}"),
        strict=False,
    ),
    "ollama": Shape("llama3.2:3b", "/v1/chat/completions", None, strict=False),
    "vllm": Shape("Qwen/Qwen2.5-7B-Instruct", "/v1/chat/completions", None, strict=False),
    "llamacpp": Shape("any", "/v1/chat/completions", None, strict=False),
    "lmstudio": Shape("qwen2.5-7b-instruct", "/v1/chat/completions", None, strict=False),
    "litellm": Shape("gpt-4o", "/v1/chat/completions", None),
}


def test_every_provider_has_a_shape_here() -> None:
    assert set(SHAPES) == set(PROVIDERS)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No provider variable from the machine running the tests."""
    for provider in PROVIDERS.values():
        for name in (*provider.key_variables, *provider.base_url_variables):
            monkeypatch.delenv(name, raising=False)
    for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_VERSION", "OPENAI_API_VERSION"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def plain_server() -> Iterator[MockChatServer]:
    """A server that checks requests against the OpenAI schema only (providers' own fields,
    `max_completion_tokens` for one, are not in AI/ML API's schema)."""

    def problems(body: object) -> list[str]:
        return [e.message for e in openai_validator().iter_errors(body)]

    with MockChatServer(validate=problems) as running:
        yield running
    assert running.validation_errors == []


def point_at(env: pytest.MonkeyPatch, name: str, server: MockChatServer) -> None:
    """Point provider `name` at `server` through its own variables, with a key if it needs one."""
    provider = PROVIDERS[name]
    if name == "azure":
        env.setenv("AZURE_OPENAI_ENDPOINT", server.base_url.removesuffix("/v1"))
    else:
        env.setenv(provider.base_url_variables[0], server.base_url)
    if provider.needs_key:
        env.setenv(provider.key_variables[0], KEY)


async def first_request(name: str, server: MockChatServer, **agent: object) -> dict[str, object]:
    server.add(Reply.tool_calls(("lookup", {"city": "Oslo"})), Reply.text("Sunny."))
    settings = ModelSettings(max_tokens=64, seed=3, temperature=0.3)
    made = Agent(
        f"{name}:{SHAPES[name].model}",
        instructions="Be brief.",
        tools=[lookup],
        settings=settings,
        **agent,  # type: ignore[arg-type]
    )
    result = await made.run("Weather in Oslo?")
    await made.model.aclose()
    assert result.output == "Sunny."
    return server.requests[0].body  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", sorted(SHAPES))
async def test_each_provider_sends_its_own_shape(
    name: str, clean_env: pytest.MonkeyPatch, plain_server: MockChatServer
) -> None:
    point_at(clean_env, name, plain_server)
    shape = SHAPES[name]
    body = await first_request(name, plain_server)
    request = plain_server.requests[0]
    assert request.path == shape.path
    key_headers = {h: v for h, v in request.headers.items() if h in ("authorization", "api-key")}
    assert key_headers == (dict([shape.auth]) if shape.auth else {})
    assert body["model"] == shape.model
    assert body[shape.tokens] == 64
    other = {"max_tokens", "max_completion_tokens"} - {shape.tokens}
    assert not other & set(body)
    assert body["seed"] == 3
    assert ("temperature" in body) is shape.temperature
    (sent_tool,) = body["tools"]  # type: ignore[misc]
    assert sent_tool["function"].get("strict", False) is shape.strict
    assert body["messages"][0] == {"role": shape.instructions_role, "content": "Be brief."}  # type: ignore[index]


async def test_a_local_server_with_its_optional_key_gets_it(
    clean_env: pytest.MonkeyPatch, plain_server: MockChatServer
) -> None:
    point_at(clean_env, "vllm", plain_server)
    clean_env.setenv("VLLM_API_KEY", "token-abc123")
    await first_request("vllm", plain_server)
    assert plain_server.requests[0].headers["authorization"] == "Bearer token-abc123"


@pytest.mark.parametrize(
    ("provider", "model", "tokens", "role", "temperature"),
    [
        ("openai", "gpt-5", "max_completion_tokens", "developer", False),
        ("openai", "gpt-5.1-mini", "max_completion_tokens", "developer", False),
        ("openai", "gpt-5-chat-latest", "max_completion_tokens", "system", True),
        ("azure", "gpt-5-mini", "max_completion_tokens", "developer", False),
        ("aimlapi", "openai/gpt-5", "max_tokens", "system", False),
        ("aimlapi", "openai/gpt-5-2-chat-latest", "max_tokens", "system", True),
    ],
)
async def test_reasoning_model_families_get_their_own_profile(
    provider: str,
    model: str,
    tokens: str,
    role: str,
    temperature: bool,
    clean_env: pytest.MonkeyPatch,
    plain_server: MockChatServer,
) -> None:
    point_at(clean_env, provider, plain_server)
    plain_server.add(Reply.text("ok"))
    made = Agent(
        f"{provider}:{model}",
        instructions="Be brief.",
        settings=ModelSettings(max_tokens=10, temperature=0.2),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await made.run("hi")
    await made.model.aclose()
    body = plain_server.requests[0].body
    assert body[tokens] == 10
    assert body["messages"][0]["role"] == role
    assert ("temperature" in body) is temperature
    dropped = [w for w in caught if issubclass(w.category, SettingDroppedWarning)]
    assert bool(dropped) is not temperature
    if dropped:
        assert "'temperature'" in str(dropped[0].message)
        assert model in str(dropped[0].message)


# -- the profile rules one by one, on the encoder ------------------------------------------


def request(**settings: object) -> ModelRequest:
    return ModelRequest(
        messages=(DeveloperMessage(content="Rules."), UserMessage(content="hi")),
        tools=(lookup.definition(),),
        settings=ModelSettings(**settings),  # type: ignore[arg-type]
    )


def encode(profile: ModelProfile, stream: bool = False, **settings: object) -> dict[str, object]:
    return encode_request(request(**settings), model="m", stream=stream, profile=profile)


def test_n_above_one_is_refused_before_sending_where_one_choice_is_all() -> None:
    with pytest.raises(ModelConfigurationError, match="n=3 cannot be sent"):
        encode(ModelProfile(multiple_choices=False), n=3)
    assert encode(ModelProfile(multiple_choices=False), n=1)["n"] == 1


def test_a_response_format_the_server_lacks_is_refused_before_sending() -> None:
    from agentkit import JsonObjectFormat, JsonSchemaFormat

    schema = JsonSchemaFormat(name="x", schema={"type": "object"})
    with pytest.raises(ModelConfigurationError, match=r"'json_schema'.*output_type"):
        encode(ModelProfile(json_schema=False), response_format=schema)
    with pytest.raises(ModelConfigurationError, match="'json_object'"):
        encode(ModelProfile(json_object=False), response_format=JsonObjectFormat())


def test_strict_is_left_out_of_json_schema_too_where_unsupported() -> None:
    from agentkit import JsonSchemaFormat

    schema = JsonSchemaFormat(name="x", schema={"type": "object"}, strict=True)
    sent = encode(ModelProfile(strict_tools=False), response_format=schema)["response_format"]
    assert sent == {
        "type": "json_schema",
        "json_schema": {"name": "x", "schema": {"type": "object"}},
    }


def test_a_named_tool_choice_becomes_required_when_it_is_the_only_tool() -> None:
    body = encode(ModelProfile(tool_choice_named=False), tool_choice="lookup")
    assert body["tool_choice"] == "required"


def test_a_named_tool_choice_among_several_tools_is_dropped_with_a_warning() -> None:
    other = dataclasses.replace(lookup.definition(), name="other")
    req = ModelRequest(
        messages=(UserMessage(content="hi"),),
        tools=(lookup.definition(), other),
        settings=ModelSettings(tool_choice="lookup"),
    )
    with pytest.warns(SettingDroppedWarning, match="tool_choice naming a tool"):
        body = encode_request(req, model="m", profile=ModelProfile(tool_choice_named=False))
    assert "tool_choice" not in body


@pytest.mark.parametrize(
    ("profile", "setting", "value", "field"),
    [
        (
            ModelProfile(parallel_tool_calls=False),
            "parallel_tool_calls",
            False,
            "parallel_tool_calls",
        ),
        (ModelProfile(tool_choice_required=False), "tool_choice", "required", "tool_choice"),
        (ModelProfile(seed=False), "seed", 5, "seed"),
        (
            ModelProfile(dropped_settings=frozenset({"logit_bias"})),
            "logit_bias",
            {"50256": -100},
            "logit_bias",
        ),
        (ModelProfile(dropped_settings=frozenset({"top_p"})), "top_p", 0.5, "top_p"),
    ],
)
def test_settings_the_profile_lacks_are_dropped_with_a_warning(
    profile: ModelProfile, setting: str, value: object, field: str
) -> None:
    with pytest.warns(SettingDroppedWarning, match="left out of the request"):
        body = encode(profile, **{setting: value})
    assert field not in body
    assert field in encode(ModelProfile(), **{setting: value})  # and sent where accepted


def test_usage_in_streams_is_asked_for_only_where_accepted() -> None:
    assert "stream_options" in encode(ModelProfile(), stream=True)
    assert "stream_options" not in encode(ModelProfile(stream_usage=False), stream=True)


def test_the_instructions_role_is_rewritten_both_ways() -> None:
    roles = [m["role"] for m in encode(ModelProfile(instructions_role="system"))["messages"]]  # type: ignore[index]
    assert roles == ["system", "user"]
    roles = [m["role"] for m in encode(ModelProfile())["messages"]]  # type: ignore[index]
    assert roles == ["developer", "user"]


def test_a_profile_refuses_to_drop_what_is_not_a_setting() -> None:
    with pytest.raises(ValueError, match=r"max_tokens.*not settings a profile can drop"):
        ModelProfile(dropped_settings=frozenset({"max_tokens"}))


# -- structured output falls back to the output tool by itself --------------------------


class City(BaseModel):
    name: str
    population: int


async def test_structured_output_without_json_schema_uses_the_output_tool(
    clean_env: pytest.MonkeyPatch, plain_server: MockChatServer
) -> None:
    point_at(clean_env, "groq", plain_server)
    plain_server.add(Reply.tool_calls(("final_result", {"name": "Oslo", "population": 709000})))
    made = Agent(
        "groq:llama-3.3-70b-versatile",
        output_type=City,
        policy=LoopPolicy(output_mode="json_schema"),
    )
    result = await made.run("Oslo?")
    await made.model.aclose()
    assert result.output == City(name="Oslo", population=709000)
    body = plain_server.requests[0].body
    assert "response_format" not in body
    assert [t["function"]["name"] for t in body["tools"]] == ["final_result"]


async def test_the_same_agent_on_openai_uses_json_schema(
    clean_env: pytest.MonkeyPatch, plain_server: MockChatServer
) -> None:
    point_at(clean_env, "openai", plain_server)
    plain_server.add(Reply.text(json.dumps({"name": "Oslo", "population": 709000})))
    made = Agent("openai:gpt-4.1", output_type=City, policy=LoopPolicy(output_mode="json_schema"))
    result = await made.run("Oslo?")
    await made.model.aclose()
    assert result.output.population == 709000
    assert plain_server.requests[0].body["response_format"]["type"] == "json_schema"


async def test_extraction_in_json_schema_mode_falls_back_too(
    clean_env: pytest.MonkeyPatch, plain_server: MockChatServer
) -> None:
    point_at(clean_env, "groq", plain_server)
    plain_server.add(Reply.tool_calls(("City", {"name": "Oslo", "population": 709000})))
    city = await extract(City, "Oslo has 709,000 people.", model="groq:m", mode="json_schema")
    assert city.population == 709000
    body = plain_server.requests[0].body
    assert "response_format" not in body
    assert body["tool_choice"] == {"type": "function", "function": {"name": "City"}}


async def test_a_profile_field_can_be_overridden_per_model(
    clean_env: pytest.MonkeyPatch, plain_server: MockChatServer
) -> None:
    point_at(clean_env, "groq", plain_server)
    plain_server.add(Reply.text("ok"))
    model = infer_model("groq:m", profile={"strict_tools": True, "max_tokens_field": "max_tokens"})
    async with model:
        await Agent(model, tools=[lookup], settings=ModelSettings(max_tokens=5)).run("hi")
    body = plain_server.requests[0].body
    assert body["tools"][0]["function"]["strict"] is True
    assert body["max_tokens"] == 5


# -- model strings and keys ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "opnai:gpt-4.1",
            "unknown provider 'opnai' (did you mean 'openai'?); known providers: aimlapi, openai, azure",
        ),
        ("gpt-4.1", "names no provider; write 'provider:model'"),
        ("openai:", "names no model; write 'openai:<model>', for example 'openai:gpt-4.1'"),
        ("openai/gpt-4o", "names no provider"),
    ],
)
def test_a_wrong_model_string_is_one_clear_error_at_construction(spec: str, message: str) -> None:
    with pytest.raises(ModelConfigurationError) as caught:
        Agent(spec)
    assert message in str(caught.value)
    assert "litellm" in str(caught.value) or "no model" in str(caught.value)


def test_a_model_name_may_hold_colons() -> None:
    model = infer_model("ollama:llama3.2:3b", environ={})
    assert model.model == "llama3.2:3b"
    assert model.base_url == "http://localhost:11434/v1"


def test_azure_without_its_endpoint_says_which_variable() -> None:
    with pytest.raises(ModelConfigurationError, match="set AZURE_OPENAI_ENDPOINT"):
        infer_model("azure:prod", environ={"AZURE_OPENAI_API_KEY": "k"})


async def test_a_missing_key_names_the_providers_variable_before_anything_is_sent() -> None:
    model = infer_model("openai:gpt-4.1", environ={"OPENAI_BASE_URL": "http://192.0.2.1/v1"})
    with pytest.raises(ModelConfigurationError, match="set OPENAI_API_KEY"):
        await model.complete(ModelRequest(messages=(UserMessage(content="hi"),)))


def test_the_key_is_in_no_repr() -> None:
    model = infer_model("groq:m", environ={"GROQ_API_KEY": KEY})
    assert KEY not in repr(model)
    assert KEY not in repr(vars(type(model)))


def test_base_url_variables_move_a_provider() -> None:
    model = infer_model("openai:gpt-4.1", environ={"OPENAI_BASE_URL": "https://proxy.example/v1"})
    assert model.base_url == "https://proxy.example/v1"
    assert infer_model("openai:x", environ={}, base_url="http://h/v1").base_url == "http://h/v1"


# -- the command line ------------------------------------------------------------------------


def cli(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return in_process(list(argv), {"PATH": "/usr/bin:/bin", **env}, "")


def test_cli_runs_a_local_provider_without_any_key(plain_server: MockChatServer) -> None:
    plain_server.add(Reply.text("Hello from Ollama."))
    done = cli(
        "run", "hi", "--model", "ollama:llama3.2", env={"OLLAMA_BASE_URL": plain_server.base_url}
    )
    assert (done.returncode, done.stdout.strip()) == (0, "Hello from Ollama.")
    assert plain_server.requests[0].body["model"] == "llama3.2"
    assert "authorization" not in plain_server.requests[0].headers


def test_cli_a_bare_model_name_with_base_url_is_sent_as_it_is(plain_server: MockChatServer) -> None:
    plain_server.add(Reply.text("ok"))
    done = cli("run", "hi", "--model", "llama3.2:3b", "--base-url", plain_server.base_url, env={})
    assert done.returncode == 0, done.stderr
    assert plain_server.requests[0].body["model"] == "llama3.2:3b"


def test_cli_an_unknown_provider_is_a_usage_error_listing_them() -> None:
    done = cli("run", "hi", "--model", "opnai:gpt-4.1", env={})
    assert done.returncode == 2
    assert "did you mean 'openai'?" in done.stderr
    assert "lmstudio" in done.stderr


def test_cli_a_missing_key_hint_names_the_providers_variable() -> None:
    done = cli("run", "hi", "--model", "groq:llama-3.3-70b-versatile", env={})
    assert done.returncode == 3
    assert "hint: set GROQ_API_KEY" in done.stderr


def test_cli_models_says_what_is_ready_here() -> None:
    env = {"OPENAI_API_KEY": KEY, "AZURE_OPENAI_API_KEY": KEY}
    done = cli("models", "--json", env=env)
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert list(rows) == list(PROVIDERS)
    assert rows["openai"]["ready"]
    assert rows["ollama"]["ready"]
    assert not rows["groq"]["ready"]
    assert rows["azure"]["status"] == "needs AZURE_OPENAI_ENDPOINT"
    assert KEY not in done.stdout
    text = cli("models", env=env).stdout
    assert "openai      ready (key set)" in text
    assert "e.g. --model ollama:llama3.2" in text
