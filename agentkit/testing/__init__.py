"""Test doubles for agentkit users: run agents and model clients without the internet.

- `MockChatServer`: a real HTTP server on 127.0.0.1 that speaks the chat-completions wire
  format (JSON and SSE), replays scripted `Reply`s, injects `Fault`s, and records requests.
  Also runnable on its own: `python -m agentkit.testing --help`.
- `echo`, `tool_loop`: ready-made responders for a server without a script.
"""

from ._scenarios import echo, tool_loop
from ._script import Fault, Reply, ScriptedCall
from ._server import MockChatServer, RecordedRequest, Responder

__all__ = [
    "Fault",
    "MockChatServer",
    "RecordedRequest",
    "Reply",
    "Responder",
    "ScriptedCall",
    "echo",
    "tool_loop",
]
