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
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from agentkit._exceptions import (
    AgentRunError,
    ExtractionError,
    MaxTurnsExceeded,
    ModelError,
    StateAlreadyDecided,
    StateSetupError,
    ToolDefinitionError,
)
from agentkit._loading import LoadError
from agentkit._session import SessionStoreError
from agentkit._version import __version__

from ._approve import add_approve_command
from ._common import EXIT_CODES, ExitCode, UsageError, add_attach_option, at_least_one, say
from ._durable import add_durable_command
from ._extract import add_extract_command
from ._mcp import add_mcp_command, add_mcp_options
from ._models import add_model_options, add_models_command, model_hint
from ._run import approve_and_continue, demo_command, run_command
from ._sessions import add_session_options, add_sessions_command
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
    demo.set_defaults(handler=demo_command)
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
    run.set_defaults(handler=run_command)


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
