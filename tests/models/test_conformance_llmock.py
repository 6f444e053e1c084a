"""agentkit against llmock's chaos modes, graded by llmock's own resilience verdict.

Each case queues llmock behaviours, runs agentkit against it, checks what agentkit did (the
answer, or the typed error), then reads llmock's verdict and checks its findings are exactly
the expected ones. Where llmock's verdict and agentkit's design disagree, the finding is
expected here and the reason is in docs/models.md ("What llmock's verdict says").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentkit import (
    Agent,
    BadRequestError,
    ChatModel,
    ModelError,
    ModelResponseError,
    RetryPolicy,
    StreamInterrupted,
)
from tests.agents import add, run_agent
from tests.peers import free_port, peer_command, running

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def llmock_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder: Path = tmp_path_factory.mktemp("llmock")
    port = free_port()
    command = [peer_command("llmock"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with running(command, f"http://127.0.0.1:{port}/_llmock/scenario", folder / "llmock.log"):
        yield f"http://127.0.0.1:{port}"


def chat_model(url: str) -> ChatModel:
    return ChatModel(
        base_url=f"{url}/v1",
        api_key="sk-llmock",
        model="gpt-4o",
        retry=RetryPolicy(max_retries=2, initial_delay=0.05, max_delay=0.5),
        timeout=httpx.Timeout(1.0, connect=2.0),  # a stall is noticed within a second
    )


@dataclass(frozen=True)
class Chaos:
    behaviors: list[dict[str, Any]]
    attempts: int
    """Requests llmock should see: the first and each retry."""
    stream: bool = False
    error: type[ModelError] | None = None
    findings: set[str] = field(default_factory=set)


def stream_fault(kind: str, after_chunks: int, **more: Any) -> dict[str, Any]:
    return {"type": "stream_fault", "kind": kind, "after_chunks": after_chunks, **more}


CASES = {
    "503-twice-then-ok": Chaos([{"type": "fail", "status": 503, "times": 2}], 3),
    "529-overloaded": Chaos([{"type": "fail", "status": 529}], 2),
    "500-streamed": Chaos([{"type": "fail", "status": 500}], 2, stream=True),
    "429-with-retry-after": Chaos([{"type": "fail", "status": 429, "retry_after": 0.3}], 2),
    "400-is-not-retried": Chaos([{"type": "fail", "status": 400}], 1, error=BadRequestError),
    "slow-answer-within-the-timeout": Chaos([{"type": "delay", "seconds": 0.3}], 1),
    "stall-before-the-first-delta": Chaos(
        [stream_fault("stall", 1, stall_seconds=3)], 2, stream=True
    ),
    "drop-before-the-first-delta": Chaos([stream_fault("disconnect", 0)], 2, stream=True),
    "truncated-before-the-first-delta": Chaos([stream_fault("truncate", 1)], 2, stream=True),
    # After deltas reached the caller a stream is never repeated (it would show them twice):
    # agentkit raises a typed error carrying what arrived. llmock would have it retried.
    "drop-mid-stream": Chaos(
        [stream_fault("disconnect", 3)],
        1,
        stream=True,
        error=StreamInterrupted,
        findings={"gave_up"},
    ),
    "truncated-mid-stream": Chaos(
        [stream_fault("truncate", 3)],
        1,
        stream=True,
        error=StreamInterrupted,
        findings={"truncated_stream_accepted"},
    ),
    "corrupt-chunk": Chaos(
        [stream_fault("malformed", 2)],
        1,
        stream=True,
        error=ModelResponseError,
        findings={"malformed_chunk_ignored"},
    ),
}


async def run_once(url: str, stream: bool) -> str:
    async with chat_model(url) as model:
        result, _ = await run_agent(Agent(model), "Say something", streamed=stream)
    return str(result.output)


def control(url: str, method: str, path: str, **body: Any) -> Any:
    response = httpx.request(method, f"{url}/_llmock/{path}", json=body or None, timeout=5)
    response.raise_for_status()
    return response.json()


@pytest.mark.parametrize("name", list(CASES))
async def test_chaos_mode_and_verdict(llmock_url: str, name: str) -> None:
    chaos = CASES[name]
    control(llmock_url, "POST", "reset")
    control(llmock_url, "POST", "scenario", behaviors=chaos.behaviors)
    if chaos.error is None:
        assert "simulated" in (await run_once(llmock_url, chaos.stream)).lower()
    else:
        with pytest.raises(chaos.error):
            await run_once(llmock_url, chaos.stream)
    verdict = control(llmock_url, "GET", "verdict")
    assert {finding["code"] for finding in verdict["findings"]} == chaos.findings, verdict
    assert verdict["attempts"] == chaos.attempts, verdict


async def test_an_agent_runs_llmocks_tool_call_then_ends(llmock_url: str) -> None:
    control(llmock_url, "POST", "reset")
    async with chat_model(llmock_url) as model:
        result = await Agent(model, tools=[add]).run("Add two numbers")
    assert result.output
    assert [message.role for message in result.messages][-3:] == ["assistant", "tool", "assistant"]
    assert control(llmock_url, "GET", "verdict")["passed"]
