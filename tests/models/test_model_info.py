"""Who a model is (`ModelInfo`): declared by every model, wrapper and double, read in one way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentkit import Agent
from agentkit._observe._otel import _model_attributes
from agentkit.models import ModelInfo, ModelProfile, RateLimitedModel, model_info
from agentkit.models._cache import ResponseCache
from agentkit.models._providers import profile_of
from agentkit.testing import FakeModel

pytestmark = pytest.mark.anyio


class OpenGate:
    async def enter(self, payload_bytes: int) -> Any:
        return None

    def leave(self, ticket: Any, tokens: int, retry_after: float | None) -> None:
        return None


def chat(base_url: str = "http://127.0.0.1:9/v1", **options: Any) -> Any:
    from agentkit import ChatModel

    return ChatModel(model="m-1", base_url=base_url, api_key="sk-test", **options)


def wrapped(model: Any, tmp_path: Path) -> Any:
    """The model behind both wrappers a batch with a cache puts around it."""
    return RateLimitedModel(ResponseCache(tmp_path / "c.sqlite3").wrap(model), OpenGate())


def test_a_chat_model_says_who_it_is() -> None:
    profile = ModelProfile(strict_tools=False)
    info = model_info(chat(provider="groq", profile=profile))
    assert (info.name, info.provider, info.base_url) == ("m-1", "groq", "http://127.0.0.1:9/v1")
    assert info.profile == profile
    assert info.endpoint is not None
    assert "sk-test" not in repr(info)


def test_wrappers_answer_with_the_wrapped_model(tmp_path: Path) -> None:
    inner = chat(provider="groq", profile=ModelProfile(strict_tools=False))
    outer = wrapped(inner, tmp_path)
    assert model_info(outer) == model_info(inner)
    assert profile_of(outer) == inner.profile  # an agent keeps the endpoint's quirks
    assert Agent(outer).profile == inner.profile
    attributes = _model_attributes(outer, "m-1")
    assert attributes["server.address"] == "127.0.0.1"
    assert attributes["gen_ai.provider.name"] == "groq"


def test_wrappers_forward_nothing_else(tmp_path: Path) -> None:
    outer = wrapped(chat(), tmp_path)
    for wrapper in (outer, outer.inner):  # the rate limiter, the cache
        for name in ("cache_identity", "sends_key_in_clear", "model", "base_url"):
            with pytest.raises(AttributeError):
                getattr(wrapper, name)


def test_a_wrapped_model_keeps_its_whole_cache_key(tmp_path: Path) -> None:
    from agentkit.models._base import ModelRequest

    cache = ResponseCache(tmp_path / "keys.sqlite3")
    request = ModelRequest(messages=())
    here = wrapped(chat("http://127.0.0.1:9/v1"), tmp_path)
    there = wrapped(chat("http://127.0.0.1:10/v1"), tmp_path)
    assert cache.key(here, request) != cache.key(there, request)
    assert cache.key(here, request) == cache.key(here.inner.inner, request)


def test_a_double_and_a_model_of_your_own() -> None:
    assert model_info(FakeModel(name="scripted")) == ModelInfo("scripted")

    class Mine:
        model = "mine-1"
        profile = ModelProfile(strict_tools=False)

    assert model_info(Mine()) == ModelInfo("mine-1", profile=Mine.profile)
    assert model_info(object()).name == "object"


def test_a_chat_model_info_follows_its_settings() -> None:
    model = chat()
    assert model.info is model.info  # made once: traces read it for every run
    before = model.info
    model.profile = ModelProfile(strict_tools=False)
    model.model = "m-2"
    after = model_info(model)
    assert (after.name, after.profile) == ("m-2", model.profile)
    assert after.endpoint != before.endpoint  # the profile is part of the cache key


def test_a_retry_hook_replaced_keeps_every_other_field() -> None:
    """`with_retry_hook` builds the request by position: a new field must not be dropped."""
    import dataclasses

    from agentkit import ModelSettings, UserMessage
    from agentkit.models._base import ModelRequest, with_retry_hook

    async def hook(attempt: int, error: BaseException, wait: float) -> None:
        return None

    request = ModelRequest(
        [UserMessage(content="hi")],
        tools=(),
        settings=ModelSettings(max_tokens=5),
        client_request_id="ak-1-1",
        on_retry=None,
    )
    names = [f.name for f in dataclasses.fields(ModelRequest)]
    assert names == ["messages", "tools", "settings", "client_request_id", "on_retry"], (
        "a field was added to ModelRequest: add it to with_retry_hook too"
    )
    changed = with_retry_hook(request, hook)
    assert changed.on_retry is hook
    for name in names[:-1]:
        assert getattr(changed, name) is getattr(request, name)
