"""A durable run on DBOS: the run id makes it happen once; a crash would resume it.

python examples/durable_payments.py      (needs "agentkit-loop[dbos]")

The local test server plays the model; DBOS keeps the run in a SQLite file. Run the same id
twice: the second time, the recorded result comes back and nothing is paid again.
"""

from __future__ import annotations

import asyncio  # noqa: TID251 - DBOS runs its async workflows on asyncio
import tempfile
from pathlib import Path

from dbos import DBOS

from agentkit import Agent
from agentkit.durable import DurableAgent
from agentkit.testing import MockChatServer, Reply

PAID: list[int] = []


def pay(amount: int) -> str:
    """Pay an invoice.

    Args:
        amount: How much, in euros.
    """
    PAID.append(amount)
    return f"paid {amount} EUR"


async def main() -> None:
    folder = Path(tempfile.mkdtemp())
    script = [Reply.tool_calls(("pay", {"amount": 42})), Reply.text("Invoice 7 is paid.")]
    with MockChatServer(script) as server:
        payments = DurableAgent(Agent(server.chat_model(), tools=[pay]), name="payments")
        DBOS(config={"name": "example", "system_database_url": f"sqlite:///{folder}/runs.db"})
        DBOS.launch()
        try:
            first = await payments.run("Pay invoice 7", run_id="pay-invoice-7")
            again = await payments.run("Pay invoice 7", run_id="pay-invoice-7")
        finally:
            DBOS.destroy()
    print(first.output, "|", again.output)
    print(f"paid {len(PAID)} time(s); the model was asked {len(server.requests)} times")


if __name__ == "__main__":
    asyncio.run(main())
