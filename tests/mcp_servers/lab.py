"""An MCP server for the tests, built with the official SDK's `MCPServer` (FastMCP).

    python -m tests.mcp_servers.lab --port 8123          # streamable HTTP on 127.0.0.1
    python -m tests.mcp_servers.lab --stdio

Its tools: `echo`, `add_numbers`, `grow` (adds a tool and announces the change), `hang`,
`fail` (an error result), `picture` (an image), `fake_picture` (images that are not), `ask_user` (an elicitation),
`summarize` (a sampling request), `greet` and `crash` (notes the call in a file, then dies mid-call), `digest` (the same through the SDK's resolvers,
which use the newest protocol's InputRequiredResult rounds), and `list_count` (how many `tools/list` requests this
process answered: the counting tests read it).
"""

from __future__ import annotations

import argparse
import base64
import os
from typing import Annotated

import anyio
from mcp.server.mcpserver import Context, Elicit, Image, MCPServer, Resolve, Sample
from mcp_types import CreateMessageResult, ImageContent, SamplingMessage, TextContent
from pydantic import BaseModel

server = MCPServer("lab")
LISTS = {"count": 0}


@server.tool()
def echo(text: str) -> str:
    """Say `text` back."""
    return text


@server.tool()
def add_numbers(a: int, b: int = 1) -> int:
    """Add two whole numbers."""
    return a + b


@server.tool()
async def grow(name: str, ctx: Context) -> str:
    """Add a tool called `name` and tell the client the list changed."""

    def grown() -> str:
        return f"I am {name}"

    server.add_tool(grown, name=name, description=f"The {name} tool.")
    await ctx.notify_tools_changed()
    return f"added {name}"


@server.tool()
async def hang(seconds: float) -> str:
    """Sleep for `seconds`."""
    await anyio.sleep(seconds)
    return "woke up"


@server.tool()
def fail(reason: str) -> str:
    """Always fails with `reason`."""
    raise ValueError(reason)


@server.tool()
def picture() -> Image:
    """A tiny PNG."""
    return Image(data=base64.b64decode(_PNG), format="png")


@server.tool()
def fake_picture() -> list[ImageContent]:
    """Text that calls itself a PNG, and base64 that is not base64."""
    return [
        ImageContent(
            type="image", data=base64.b64encode(b"not a png").decode(), mime_type="image/png"
        ),
        ImageContent(type="image", data="***", mime_type="image/png"),
    ]


@server.tool()
async def ask_user(question: str, ctx: Context) -> str:
    """Ask the user a question through the client."""
    from pydantic import BaseModel

    class Answer(BaseModel):
        name: str

    answer = await ctx.elicit(question, schema=Answer)
    return f"{answer.action}: {getattr(answer, 'data', None)}"


@server.tool()
async def summarize(text: str, ctx: Context) -> str:
    """Ask the client's model to summarize `text` (a sampling request)."""
    import warnings

    from mcp_types import SamplingMessage, TextContent

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sampling is deprecated in 2026-07-28; still served
        result = await ctx.session.create_message(
            [SamplingMessage(role="user", content=TextContent(type="text", text=text))],
            max_tokens=50,
            system_prompt="Summarize in three words.",
        )
    return f"summary: {result.content.text}"


class Name(BaseModel):
    name: str


def _ask_name(question: str) -> Elicit[Name]:
    return Elicit(question, Name)


def _sample_summary(text: str) -> Sample:
    return Sample(
        [SamplingMessage(role="user", content=TextContent(type="text", text=text))],
        max_tokens=50,
        system_prompt="Summarize in three words.",
    )


@server.tool()
def greet(question: str, who: Annotated[Name, Resolve(_ask_name)]) -> str:
    """Greet the user, asking their name first (an elicitation the SDK routes by protocol:
    an InputRequiredResult round on 2026-07-28, a request mid-call before)."""
    return f"Hello, {who.name}"


@server.tool()
def digest(text: str, summary: Annotated[CreateMessageResult, Resolve(_sample_summary)]) -> str:
    """Summarize `text` with the client's model (sampling, routed as `greet` is)."""
    return f"digest: {summary.content.text}"


@server.tool()
def list_count() -> int:
    """How many tools/list requests this process answered."""
    return LISTS["count"]


@server.tool()
def crash(log: str) -> str:
    """Note the call in the file `log`, then die before answering (a crash mid-call)."""
    with open(log, "a", encoding="utf-8") as out:
        out.write("crash ran\n")
    os._exit(1)


@server.tool()
def pid() -> int:
    """This process's id."""
    return os.getpid()


_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


class CountLists:
    """ASGI middleware: count the JSON-RPC `tools/list` requests in POST bodies."""

    def __init__(self, app: object) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        if scope["type"] != "http":
            return await self.app(scope, receive, send)  # type: ignore[operator,no-any-return]
        messages = []
        while True:
            message = await receive()  # type: ignore[operator]
            messages.append(message)
            if not message.get("more_body"):
                break
        if b'"tools/list"' in b"".join(m.get("body", b"") for m in messages):
            LISTS["count"] += 1
        pending = iter(messages)

        async def replay() -> object:
            return next(pending, None) or await receive()  # type: ignore[operator]

        return await self.app(scope, replay, send)  # type: ignore[operator,no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--stdio", action="store_true")
    parser.add_argument("--sse", action="store_true", help="the legacy HTTP+SSE transport")
    options = parser.parse_args()
    if options.stdio:
        server.run("stdio")
        return
    import uvicorn

    made = server.sse_app(host="127.0.0.1") if options.sse else server.streamable_http_app()
    app = CountLists(made)
    uvicorn.run(app, host="127.0.0.1", port=options.port, log_level="warning")


if __name__ == "__main__":
    main()
