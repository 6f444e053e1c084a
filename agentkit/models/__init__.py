"""The model layer: what a model is asked, and the providers that answer.

```python
from agentkit import Agent

agent = Agent("openai:gpt-4.1")          # a provider and a model, by their names
agent = Agent("ollama:llama3.2")         # a local server: no key needed
```

`agentkit.models` holds the providers (`PROVIDERS`, `infer_model`), the profiles of their
quirks (`ModelProfile`) and who a model is (`ModelInfo`, `model_info`). The records and the
`Model` protocol are exported by `agentkit`.
Nothing here imports httpx until a model is built.
"""

# Layout of this package. Each module imports only from the rows above it (and its own
# row); tests/test_layers.py checks it.
#
# 0. records: _base, _profile, _providers
# 1. dialects: _wire_read, _cost, _media_wire, _chat_wire, _chat_sse, _responses_wire,
#    _responses_sse
# 2. sending: _retry, _gate, _framing, _transport, _endpoint, _stream_read
# 3. models: _chat, _responses
# 4. model strings and wrappers: _infer, _cache, _limited, _fallback

import importlib
from typing import TYPE_CHECKING

from ._base import ModelInfo, model_info
from ._profile import ModelProfile, SettingDroppedWarning
from ._providers import DEFAULT_MODEL_STRING, PROVIDERS, AzureProvider, Provider, provider_named

__all__ = [
    "DEFAULT_MODEL_STRING",
    "PROVIDERS",
    "AzureProvider",
    "CircuitBreaker",
    "FallbackModel",
    "ModelInfo",
    "ModelProfile",
    "PlainHTTPKeyWarning",
    "Provider",
    "RateLimitedModel",
    "ResponsesModel",
    "SettingDroppedWarning",
    "infer_model",
    "model_info",
    "provider_named",
    "should_fall_back",
]

_LAZY = {  # they build or wrap models: httpx is imported on first use
    "infer_model": "_infer",
    "RateLimitedModel": "_limited",
    "FallbackModel": "_fallback",
    "CircuitBreaker": "_fallback",
    "should_fall_back": "_fallback",
    "ResponsesModel": "_responses",
    "PlainHTTPKeyWarning": "_endpoint",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'agentkit.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"agentkit.models.{module}"), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from ._endpoint import PlainHTTPKeyWarning
    from ._fallback import CircuitBreaker, FallbackModel, should_fall_back
    from ._infer import infer_model
    from ._limited import RateLimitedModel
    from ._responses import ResponsesModel
