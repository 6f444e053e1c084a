"""A process that runs (or resumes) a durable agent run, for tests/test_durable.py.

python tests/durable_worker.py DB SERVER_URL LOG RUN_ID [--crash-before-turn N]

`transfer` notes each call in LOG (a side effect that must not happen twice). With
--crash-before-turn, the process kills itself (SIGKILL: no clean-up) when the run is about to
send that turn's request, after the earlier steps were checkpointed.
"""

from __future__ import annotations

import asyncio  # noqa: TID251 - DBOS runs its async workflows on asyncio
import os
import signal
import sys
from typing import Any

from dbos import DBOS

from agentkit import Agent, ChatModel
from agentkit.durable import DurableAgent

DB, URL, LOG, RUN_ID = sys.argv[1:5]
CRASH_TURN = int(sys.argv[6]) if len(sys.argv) > 6 and sys.argv[5] == "--crash-before-turn" else -1


def transfer(amount: int) -> str:
    """Move money (a side effect: noted in the log).

    Args:
        amount: How much.
    """
    with open(LOG, "a", encoding="utf-8") as log:
        log.write(f"transfer {amount}\n")
    return f"moved {amount}"


class Crashing:
    """The model, but the process dies before the request of turn CRASH_TURN is sent."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.info = model.info

    async def complete(self, request: Any) -> Any:
        turn = int(str(request.client_request_id).rsplit("-", 1)[1])
        if turn == CRASH_TURN:
            os.kill(os.getpid(), signal.SIGKILL)
        return await self.model.complete(request)

    def stream(self, request: Any) -> Any:
        return self.model.stream(request)

    async def aclose(self) -> None:
        await self.model.aclose()


model = Crashing(ChatModel(base_url=URL, api_key="k", model="mock-model", max_retries=0))
payments = DurableAgent(Agent(model, tools=[transfer]), name="payments")


async def main() -> None:
    DBOS(config={"name": "agentkit-test", "system_database_url": f"sqlite:///{DB}"})
    DBOS.launch()  # resumes what a crashed process left unfinished
    try:
        result = await payments.run("Pay 5", run_id=RUN_ID)
        print(result.output, flush=True)
    finally:
        DBOS.destroy()


asyncio.run(main())
