"""Layer 5 (edges): the `agentkit` command (also `python -m agentkit`).

The answer goes to stdout; traces, approvals and progress go to stderr. Exit codes:

    0  success
    1  unexpected error (run with --debug for the traceback)
    2  usage error: bad options, a tool or schema that cannot be loaded
    3  the model could not be reached or answered with an error (after retries)
    4  a limit was reached (max turns, usage limits, tool or output retries)
    5  the run finished, but at least one tool call was denied approval
    6  extraction found no valid object
    7  a batch finished, but some items failed (see the journal; --resume retries them)
    8  a batch stopped with items not processed (the message gives the command to continue)
    9  the run waits for approvals (run --defer STATE; continue with agentkit approve STATE)
    130  interrupted (Ctrl-C)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import anyio
from pydantic_core import to_json

from agentkit._agent import Agent
from agentkit._approvals import requests_of
from agentkit._dispatch import DEFER
from agentkit._events import RunEvent, ToolCallFinished
from agentkit._exceptions import (
    AgentRunError,
    ExtractionError,
    MaxTurnsExceeded,
    ModelError,
    StateAlreadyDecided,
    StateSetupError,
    ToolDefinitionError,
)
from agentkit._history import compact
from agentkit._loading import LoadError, load_tools
from agentkit._session import SessionStoreError
from agentkit._version import __version__
from agentkit.models._base import TextDelta
from agentkit.models._chat import ChatModel

from ._approve import add_approve_command, read_state, write_state
from ._common import (
    EXIT_CODES,
    ExitCode,
    UsageError,
    add_attach_option,
    at_least_one,
    attachments,
    read_text,
    say,
    settings_of,
    short,
    show,
)
from ._durable import add_durable_command, approve_run, durable_db
from ._extract import add_extract_command
from ._mcp import add_mcp_command, add_mcp_options, mcp_toolsets
from ._models import add_model_options, add_models_command, chat_model, model_hint
from ._prompt import TerminalApprover
from ._schema import schema_type
from ._sessions import add_session_options, add_sessions_command, session_for
from ._tools import add_tools_command
from ._trace import add_trace_command

__all__ = ["EXIT_CODES", "ExitCode", "UsageError", "main"]

_INTERRUPTED = ExitCode.INTERRUPTED
_BROKEN_PIPE = 128 + 13  # as a process killed by SIGPIPE


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Run the command line and exit with its code."""
    parser = _parser()
    if "_ARGCOMPLETE" in os.environ:  # a shell asks for completions (agentkit completion)
        _complete(parser)
    options = parser.parse_args(argv)
    if not hasattr(options, "handler"):  # a command without its action: that command's help
        getattr(options, "usage_of", parser).print_help(sys.stderr)
        sys.exit(ExitCode.USAGE)
    try:
        code = _run_handler(options)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as Unix tools do, and keep Python
        # from complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = _BROKEN_PIPE
    sys.exit(code)


def _run_handler(options: argparse.Namespace) -> int:
    handler: Callable[[argparse.Namespace], int] = options.handler
    try:
        return handler(options)
    except KeyboardInterrupt:
        say("interrupted")
        return _INTERRUPTED
    except BrokenPipeError:
        raise  # handled in main: nothing more may be written
    except SessionStoreError as error:
        hint = "run with --no-session, or move the store away (AGENTKIT_DATA_DIR)"
        return _fail(options, error, ExitCode.ERROR, hint)
    except StateSetupError as error:
        hint = "give approve the -T, --mcp, --model and --instructions options the run had"
        return _fail(options, error, ExitCode.USAGE, hint)
    except StateAlreadyDecided as error:
        return _fail(options, error, ExitCode.USAGE, "nothing ran now; run the task again")
    except UsageError as error:
        return _fail(options, error, ExitCode.USAGE, error.hint)
    except LoadError as error:
        hint = "check the path, module or name (agentkit tools list -T SPEC shows what loads)"
        return _fail(options, error, ExitCode.USAGE, hint)
    except ToolDefinitionError as error:
        return _fail(options, error, ExitCode.USAGE, "fix the tool's definition")
    except ExtractionError as error:
        return _fail(options, error, ExitCode.EXTRACTION, "see the attempts with --debug")
    except MaxTurnsExceeded as error:  # its message speaks Python (error.result...): say it here
        turns = getattr(options, "max_turns", "?")
        said = f"no final answer after {turns} model requests (--max-turns {turns})"
        hint = "raise --max-turns, or add -v to see each tool call and what it returned"
        return _fail(options, error, ExitCode.LIMIT, hint, message=said)
    except AgentRunError as error:
        return _fail(options, error, ExitCode.LIMIT, "raise the limit or check the tools")
    except ModelError as error:
        return _fail(options, error, ExitCode.MODEL, model_hint(options, error))
    except Exception as error:  # the last resort: one line, not a traceback
        return _fail(options, error, ExitCode.ERROR, "run again with --debug for details")


def _fail(
    options: argparse.Namespace,
    error: BaseException,
    code: int,
    hint: str | None,
    *,
    message: str | None = None,
) -> int:
    if getattr(options, "debug", False):
        traceback.print_exception(error, file=sys.stderr)
    say(f"error: {message or error}")
    if hint:
        say(f"hint: {hint}")
    return code


# -- parser ---------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentkit",
        description="Run tool-calling agents and extractions against OpenAI-compatible APIs.",
        epilog=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"agentkit {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_run(commands)
    add_tools_command(commands, _add_common)
    add_extract_command(commands, _add_common, _add_model_options)
    from ._batch import add_batch_commands

    add_batch_commands(commands, _add_common)
    add_models_command(commands, _add_common)
    add_mcp_command(commands, _add_common)
    add_trace_command(commands, _add_common)
    add_sessions_command(commands, _add_common)
    add_approve_command(commands, _add_common, _add_setup, approve_and_continue)
    add_durable_command(commands, _add_common)
    demo = commands.add_parser(
        "demo", help="run a demo agent (offline unless AIMLAPI_API_KEY is set)",
        description="Run an agent with two tools on a question that needs parallel calls. "
        "Without AIMLAPI_API_KEY it runs offline against a built-in MockChatServer.",
    )  # fmt: skip
    _add_common(demo, verbose=True)
    demo.add_argument("--stream", action="store_true", help="print the answer as it arrives")
    demo.set_defaults(handler=_demo)
    helping = commands.add_parser(
        "help", help="show the help of a command: agentkit help batch run"
    )
    helping.add_argument("command", nargs="*", help="the command (and action)")
    completion = commands.add_parser(
        "completion", help="print the shell script that completes agentkit's commands",
        description="Print a completion script: eval \"$(agentkit completion bash)\" in "
        "~/.bashrc (zsh: the same with zsh; fish: agentkit completion fish | source). "
        'Needs pip install "agentkit-loop[completion]".',
    )  # fmt: skip
    completion.add_argument("shell", choices=("bash", "zsh", "fish"))
    completion.set_defaults(handler=_completion)
    helping.set_defaults(handler=lambda options: _help(parser, options.command))
    return parser


def _complete(parser: argparse.ArgumentParser) -> None:
    """Answer the shell's completion request (argcomplete exits when it has answered)."""
    try:
        import argcomplete
    except ImportError:  # the shell hook without the extra: complete nothing, quietly
        sys.exit(0)
    argcomplete.autocomplete(parser)


def _completion(options: argparse.Namespace) -> int:
    """`agentkit completion bash|zsh|fish`: the script that makes the shell complete."""
    try:
        from argcomplete.shell_integration import shellcode
    except ImportError:
        raise UsageError(
            'completion needs argcomplete: pip install "agentkit-loop[completion]"', hint=None
        ) from None
    print(shellcode(["agentkit"], shell=options.shell), end="")
    return ExitCode.OK


def _help(parser: argparse.ArgumentParser, words: Sequence[str]) -> int:
    """`agentkit help [COMMAND [ACTION]]`: that command's --help, on stdout."""
    current = parser
    for word in words:
        choices = next(
            (a.choices for a in current._actions if isinstance(a, argparse._SubParsersAction)),
            None,
        )
        if not choices or word not in choices:
            known = ", ".join(choices or ()) or "none"
            raise UsageError(f"no command {word!r} here; the commands are: {known}", hint=None)
        current = choices[word]
    current.print_help()
    return ExitCode.OK


def _add_common(parser: argparse.ArgumentParser, *, verbose: bool = False) -> None:
    if verbose:  # only where there is something to trace
        parser.add_argument(
            "-v", "--verbose", action="store_true", help="trace tool calls on stderr"
        )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    group = add_model_options(parser)
    group.add_argument(
        "--max-tokens", type=at_least_one("--max-tokens"), help="max_tokens per request"
    )
    group.add_argument(
        "--seed", type=at_least_one("--seed"), help="seed (>= 1) for reproducible sampling"
    )


def _add_run(commands: Any) -> None:
    run = commands.add_parser(
        "run", help="run an agent on a prompt",
        description="Run an agent with the given tools; the answer goes to stdout.",
    )  # fmt: skip
    run.add_argument(
        "prompt", nargs="?", default="-",
        help="what to ask; - (or nothing) reads it from standard input, and text piped in "
        "with a prompt goes before it (cat notes.txt | agentkit run 'summarise')",
    )  # fmt: skip

    add_attach_option(run)
    run.add_argument("--json", action="store_true", help="print the result as JSON")
    run.add_argument("--stream", action="store_true", help="print the answer as it arrives")
    run.add_argument(
        "--trace", metavar="FILE", help="record the run's timeline (JSONL; `agentkit trace view`)"
    )
    run.add_argument(
        "--defer", metavar="STATE",
        help="when a call needs approval, write STATE and stop (exit 9; `agentkit approve`)",
    )  # fmt: skip
    approvals = run.add_mutually_exclusive_group()
    approvals.add_argument("--yes", action="store_true", help="approve every tool call")
    approvals.add_argument("--deny", action="store_true", help="deny every call needing approval")
    _add_setup(run)
    add_session_options(run)
    _add_common(run, verbose=True)
    run.set_defaults(handler=_run)


def _add_setup(parser: argparse.ArgumentParser) -> None:
    """The options that set an agent up: tools, instructions, limits, model, MCP servers."""
    parser.add_argument(
        "-T", "--tool", action="append", default=[], metavar="SPEC",
        help="tools to load: path/to/file.py, a module, or module:name (repeatable)",
    )  # fmt: skip
    system = parser.add_mutually_exclusive_group()
    system.add_argument(
        "--system", "--instructions", dest="instructions", metavar="TEXT",
        help="system instructions for the agent",
    )  # fmt: skip
    system.add_argument("--system-file", metavar="PATH", help="read the instructions from PATH")
    parser.add_argument(
        "--schema", metavar="SCHEMA",
        help="answer with this structure: fields ('name, age int, bio: a short bio'), a JSON "
        "Schema file, or module:Model",
    )  # fmt: skip
    parser.add_argument(
        "--max-turns", type=at_least_one("--max-turns"), default=10,
        help="model requests per run (10)",
    )  # fmt: skip
    parser.add_argument("--tool-choice", help="auto, none, required, or a tool name")
    parser.add_argument("--no-parallel", action="store_true", help="send parallel_tool_calls=false")
    parser.add_argument(
        "--compact", action="store_true",
        help="summarise the older turns when the conversation outgrows the model's window "
        "(and when the provider refuses a prompt as too long)",
    )  # fmt: skip
    _add_model_options(parser)
    add_mcp_options(parser)


# -- commands -------------------------------------------------------------------------


def _run(options: argparse.Namespace) -> int:
    parts = attachments(options)
    prompt: Any = _prompt(options.prompt)
    prompt = [prompt, *parts] if parts else prompt
    approver = TerminalApprover(yes=options.yes, deny=options.deny)
    agent = _agent(options, DEFER if options.defer else approver)
    return _execute(agent, prompt, options, approver)


def _prompt(given: str) -> str:
    """The prompt: the argument, standard input (`-`), or text piped in before the argument."""
    piped = "" if sys.stdin.isatty() else sys.stdin.read()
    if given != "-":
        return f"{piped.rstrip()}\n\n{given}" if piped.strip() else given
    if sys.stdin.isatty():
        raise UsageError("give a prompt, or pipe one in: echo 'What is 2+3?' | agentkit run")
    if not piped.strip():
        raise UsageError("the prompt read from standard input is empty")
    return piped.strip()


def approve_and_continue(options: argparse.Namespace) -> int:
    """`agentkit approve STATE`: check the state, ask about each call, continue the run."""
    if (db := durable_db(options.state, options.db)) is not None:  # a durable run's id
        return approve_run(options.state, db, yes=options.yes, deny=options.deny)
    pending = read_state(options.state)  # its seal first: an edited state shows nothing
    if not (options.yes or options.deny) and not sys.stdin.isatty():
        raise UsageError(
            "no terminal to ask on, so nothing was decided; pass --yes or --deny "
            "(the state is unchanged)"
        )
    approver = TerminalApprover(yes=options.yes, deny=options.deny)
    options.defer = options.state
    agent = _agent(options, DEFER)

    async def main() -> Any:
        try:
            await agent.check_resumable(pending)  # before anything is shown or asked
            decisions = {r.call.id: await approver(r) for r in requests_of(pending)}
            return await agent.resume(pending, decisions)
        finally:
            await _close(agent)

    result = anyio.run(main)
    if result.pending is not None:
        return write_state(options.state, result.pending, options)
    show(json.dumps(_json_result(result)) if options.json else str(result.output))
    return ExitCode.DENIED if approver.denied else ExitCode.OK


def _agent(options: argparse.Namespace, approver: Any) -> Agent[Any]:
    tools = [each for spec in options.tool for each in load_tools(spec)]
    schema = getattr(options, "schema", None)
    try:
        agent = Agent(
            chat_model(options),
            instructions=_instructions(options),
            output_type=schema_type(schema) if schema else str,
            tools=tools,
            tool_choice=options.tool_choice,
            parallel_tool_calls=False if options.no_parallel else None,
            max_turns=options.max_turns,
            settings=settings_of(options),
            approver=approver,
            toolsets=mcp_toolsets(options),
            history_processors=[compact()] if getattr(options, "compact", False) else (),
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    return agent


def _instructions(options: argparse.Namespace) -> str | None:
    path = getattr(options, "system_file", None)
    if path is None:
        return options.instructions  # type: ignore[no-any-return]
    text = read_text(path)
    if not text.strip():
        raise UsageError(f"--system-file {path} is empty")
    return text


def _demo(options: argparse.Namespace) -> int:
    from agentkit._demo import DEMO_QUESTION, DEMO_TOOLS, scripted_demo_model
    from agentkit.testing import MockChatServer

    approver = TerminalApprover(yes=False, deny=False)
    say(f"> {DEMO_QUESTION}")
    if os.environ.get("AIMLAPI_API_KEY") or os.environ.get("AIML_API_KEY"):
        say("(asking AI/ML API)")
        agent = Agent(
            ChatModel.from_env(), instructions="Be brief. Use the tools.", tools=DEMO_TOOLS
        )
        return _execute(agent, DEMO_QUESTION, options, approver)
    with MockChatServer(responder=scripted_demo_model) as server:
        say(
            f"(offline: a scripted model on {server.base_url}; "
            "set AIMLAPI_API_KEY to use AI/ML API)"
        )
        agent = Agent(server.chat_model(), instructions="Be brief.", tools=DEMO_TOOLS)
        options.verbose = True
        return _execute(agent, DEMO_QUESTION, options, approver)


def _execute(
    agent: Agent[Any], prompt: Any, options: argparse.Namespace, approver: TerminalApprover
) -> int:
    as_json, stream = getattr(options, "json", False), options.stream
    verbose = getattr(options, "verbose", False)

    async def main() -> Any:
        try:
            trace_to = getattr(options, "trace", None)
            session = session_for(options) if hasattr(options, "no_session") else None
            if not stream:
                return await agent.run(
                    prompt, on_event=_tracer(verbose), trace_to=trace_to, session=session
                )
            async with agent.stream(prompt, trace_to=trace_to, session=session) as run:
                async for event in run:
                    if isinstance(event, TextDelta) and not as_json:
                        show(event.text, end="")
                    _tracer(verbose)(event)
            if not as_json:
                show("")
            return run.result
        finally:
            await _close(agent)

    result = anyio.run(main)
    if result.pending is not None:
        return write_state(options.defer, result.pending, options)
    if as_json:
        print(json.dumps(_json_result(result), ensure_ascii=False))
    elif not stream:
        show(str(result.output))
    if getattr(options, "verbose", False) and not as_json:
        say(_footer(result.usage, len(result.turns)))
    return ExitCode.DENIED if approver.denied else ExitCode.OK


def _footer(usage: Any, turns: int) -> str:
    """`-v`'s last line: requests, tokens and what they cost (or that it is unknown)."""
    if usage.cost is None:
        cost = "cost unknown"
    else:
        cost = f"${usage.cost.normalize():f} ({usage.cost_source})"
    return f"  {turns} turns, {usage.total_tokens} tokens, {cost}"


def _json_result(result: Any) -> dict[str, Any]:
    """Everything a script needs of a run, as JSON (docs/cli.md describes each field)."""
    output = result.output
    calls = [r for turn in result.turns for r in turn.tool_results]
    denied = any(r.denied for r in calls)
    return {
        "output": output if isinstance(output, str) else json.loads(to_json(output)),
        "exit_reason": "denied" if denied else "final_answer",
        "usage": result.usage.model_dump(mode="json"),
        "cost": float(result.usage.cost) if result.usage.cost is not None else None,
        "cost_source": result.usage.cost_source,
        "turns": len(result.turns),
        "models": {name: u.requests for name, u in result.usage_by_model().items()},
        "tool_calls": [
            {
                "id": r.call.id,
                "name": r.call.name,
                "arguments": r.call.arguments,
                "ok": r.ok,
                "denied": r.denied,
                "result": r.content,
            }
            for r in calls
        ],
        "messages": json.loads(result.messages_json()),
    }


async def _close(agent: Agent[Any]) -> None:
    await agent.aclose()


def _tracer(verbose: bool) -> Callable[[RunEvent], None]:
    def trace(event: RunEvent) -> None:
        if verbose and isinstance(event, ToolCallFinished):
            result = event.result
            if result.deferred is not None:
                status = " (waiting for approval)"
            else:
                status = "" if result.ok else (" (denied)" if result.denied else " (failed)")
            call = f"{result.call.name}({result.call.arguments})"
            took = f"{result.duration * 1000:.0f} ms"
            say(f"  -> {call} = {short(result.content)}{status} [{took}]")

    return trace
