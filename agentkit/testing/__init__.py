"""Test doubles for agentkit users: run agents and model clients without the internet.

- `MockChatServer`: a real HTTP server on 127.0.0.1 that speaks the chat-completions wire
  format (JSON and SSE), replays scripted `Reply`s, injects `Fault`s, and records requests.
  Also runnable on its own: `python -m agentkit.testing --help`.
- `echo`, `tool_loop`: ready-made responders for a server without a script; `flaky(...)`
  makes a share of a responder's answers fail (a fault plan).
- `make_png`, `make_pdf`, `make_wav`: small valid media files made on the spot.
- `FakeModel` (a script of answers) and `FunctionModel` (a function of the messages and tool
  definitions): models without HTTP, for testing agents.
"""

from ._media import make_pdf, make_png, make_wav
from ._models import FakeModel, FunctionModel, ScriptItem
from ._scenarios import echo, flaky, tool_loop
from ._script import Fault, Reply, ScriptedCall
from ._server import MockChatServer, RecordedRequest, Responder

__all__ = [
    "FakeModel",
    "Fault",
    "FunctionModel",
    "MockChatServer",
    "RecordedRequest",
    "Reply",
    "Responder",
    "ScriptItem",
    "ScriptedCall",
    "echo",
    "flaky",
    "make_pdf",
    "make_png",
    "make_wav",
    "tool_loop",
]
