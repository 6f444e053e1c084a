"""Stream a run: text as it arrives, tool calls starting while the model still writes.

python examples/streaming.py
"""

from __future__ import annotations

import anyio

from agentkit import Agent, TextDelta, ToolCallFinished, ToolCallReady, tool
from agentkit.testing import FakeModel, Reply


@tool
async def lookup(topic: str) -> str:
    """Look a topic up in the encyclopedia.

    Args:
        topic: What to look up.
    """
    await anyio.sleep(0.1)
    return f"{topic}: a fine subject."


async def main() -> None:
    model = FakeModel(  # scripted, streamed with delays; swap for ChatModel.from_env()
        [
            Reply.tool_calls(
                ("lookup", {"topic": "owls"}),
                ("lookup", {"topic": "larks"}),
                chunk_size=6,
                chunk_delay=0.05,
            ),
            Reply.text("Owls hunt at night; larks sing at dawn.", chunk_size=5, chunk_delay=0.03),
        ]
    )
    agent = Agent(model, tools=[lookup])
    async with agent.stream("Tell me about owls and larks.") as run:
        async for event in run:
            if isinstance(event, TextDelta):
                print(event.text, end="", flush=True)
            elif isinstance(event, ToolCallReady):
                print(f"[{event.call.name}({event.call.arguments}) starts]")
            elif isinstance(event, ToolCallFinished):
                print(f"[{event.result.call.name} -> {event.result.content}]")
    print()
    assert run.result is not None
    print(f"({run.result.usage.requests} requests)")


if __name__ == "__main__":
    anyio.run(main)
