"""A process that runs, resumes or decides on a durable agent run, for tests/batch/test_durable.py.

python tests/durable_worker.py run DB SERVER_URL LOG RUN_ID [--crash-before-turn N]
    [--crash-in-tool AMOUNT] [--approval] [--session PATH] [--stream] [--pure] [--stranded]
(DB: a SQLite file, or a database URL such as postgresql://...)
python tests/durable_worker.py pending DB RUN_ID
python tests/durable_worker.py approve DB RUN_ID CALL_ID yes|no

`transfer` notes each call in LOG (a side effect that must not happen twice); with --approval
it needs approval and the agent defers (a durable wait). With --crash-before-turn, the process
kills itself (SIGKILL: no clean-up) when the run is about to send that turn's request.
"""

from __future__ import annotations

import asyncio  # noqa: TID251 - DBOS runs its async workflows on asyncio
import json
import os
import signal
import sys
from typing import Any

from dbos import DBOS

from agentkit import DEFER, Agent, ChatModel, tool
from agentkit.durable import DurableAgent, approve, pending, stranded

MODE, DB = sys.argv[1], sys.argv[2]
URL_OF_DB = DB if "://" in DB else f"sqlite:///{DB}"  # a file, or a database URL


def main_decisions() -> None:
    if MODE == "pending":
        print(json.dumps(pending(sys.argv[3], system_database_url=URL_OF_DB)), flush=True)
    else:
        run_id, call_id, answer = sys.argv[3:6]
        approve(run_id, {call_id: answer == "yes"}, system_database_url=URL_OF_DB)


if MODE != "run":
    main_decisions()
    sys.exit(0)

URL, LOG, RUN_ID = sys.argv[3:6]
OPTIONS = sys.argv[6:]
CRASH_TURN = (
    int(OPTIONS[OPTIONS.index("--crash-before-turn") + 1])
    if "--crash-before-turn" in OPTIONS
    else -1
)
APPROVAL = "--approval" in OPTIONS
CRASH_IN_TOOL = (  # die inside this transfer (by amount), before it completes
    int(OPTIONS[OPTIONS.index("--crash-in-tool") + 1]) if "--crash-in-tool" in OPTIONS else -1
)


@tool(requires_approval=APPROVAL)
def transfer(amount: int) -> str:
    """Move money (a side effect: noted in the log).

    Args:
        amount: How much.
    """
    with open(f"{LOG}.begun", "a", encoding="utf-8") as begun:
        begun.write(f"begin {amount}\n")
    if amount == CRASH_IN_TOOL:  # killed mid-call: this call never completes
        os.kill(os.getpid(), signal.SIGKILL)
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
        turn = int(str(request.client_request_id).rsplit("-", 1)[1])
        if turn == CRASH_TURN:
            os.kill(os.getpid(), signal.SIGKILL)
        return self.model.stream(request)

    async def aclose(self) -> None:
        await self.model.aclose()


@tool
def lookup(amount: int) -> str:
    """Say whether an amount is allowed (pure: noted in the log to count its calls).

    Args:
        amount: How much.
    """
    with open(LOG, "a", encoding="utf-8") as log:
        log.write(f"lookup {amount}\n")
    return "allowed"


model = Crashing(ChatModel(base_url=URL, api_key="k", model="mock-model", max_retries=0))
agent = Agent(model, tools=[transfer, lookup], approver=DEFER if APPROVAL else None)
payments = DurableAgent(
    agent, name="payments", pure_tools=["lookup"] if "--pure" in OPTIONS else []
)


async def main() -> None:
    DBOS(config={"name": "agentkit-test", "system_database_url": URL_OF_DB})
    DBOS.launch()  # resumes what a crashed process left unfinished
    try:
        if "--stranded" in OPTIONS:  # runs another version of the code left unfinished
            print(json.dumps({"stranded": await stranded()}), flush=True)
        session = None
        if "--session" in OPTIONS:  # continue a stored conversation
            from agentkit import SQLiteSession

            session = SQLiteSession(OPTIONS[OPTIONS.index("--session") + 1], "payments")
        if "--stream" in OPTIONS:  # the text as it arrives, then the recorded result
            pieces = [p async for p in payments.stream("Pay 5", run_id=RUN_ID, session=session)]
            print(json.dumps({"pieces": pieces}), flush=True)
        result = await payments.run("Pay 5", run_id=RUN_ID, session=session)
        print(result.output, flush=True)
    finally:
        DBOS.destroy()


asyncio.run(main())
