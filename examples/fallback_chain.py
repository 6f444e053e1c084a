"""A fallback chain: when one model fails, the next answers; a dead one is skipped.

python examples/fallback_chain.py

Three local servers stand in for three providers: one that is down, one that answers 503
to every request, and a healthy one. The chain skips the failing ones, and once a model's
circuit opens it is not even asked (no timeout paid) until its cooldown ends.
"""

from __future__ import annotations

import socket

import anyio

from agentkit import Agent, ChatModel
from agentkit.models import CircuitBreaker, FallbackModel
from agentkit.testing import Fault, MockChatServer, echo


def nowhere() -> str:
    """A loopback URL where nothing listens (a provider that is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


async def main() -> None:
    overloaded = MockChatServer(responder=lambda request: Fault.http(503))
    healthy = MockChatServer(responder=echo)
    async with overloaded, healthy:
        chain = FallbackModel(
            ChatModel(model="down", base_url=nowhere(), api_key="k", max_retries=0),
            overloaded.chat_model(model="busy", max_retries=0),
            healthy.chat_model(model="steady"),
            circuit=CircuitBreaker(failures=2, cooldown=60),
        )
        async with Agent(chain) as agent:
            for question in ("first question", "second question", "third question"):
                result = await agent.run(question)
                print(f"{question!r} answered by {result.turns[0].model}: {result.output}")
        print(f"the overloaded server was asked {len(overloaded.requests)} times, not 3")


if __name__ == "__main__":
    anyio.run(main)
