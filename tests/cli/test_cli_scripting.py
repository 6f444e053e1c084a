"""The command line for scripted automation: prompts from pipes, schemas, JSON, help, rules."""

from __future__ import annotations

import json
from pathlib import Path

from agentkit import __version__
from agentkit.testing import MockChatServer, Reply

from .test_cli import agentkit


def sent_prompt(server: MockChatServer) -> str:
    return str(server.requests[-1].body["messages"][-1]["content"])


def test_the_prompt_can_come_from_standard_input(server: MockChatServer) -> None:
    server.add(Reply.text("a"), Reply.text("b"), Reply.text("c"))
    assert agentkit("run", server=server, stdin="What is 2+3?\n").returncode == 0
    assert sent_prompt(server) == "What is 2+3?"
    assert agentkit("run", "-", server=server, stdin="Hi there").returncode == 0
    assert sent_prompt(server) == "Hi there"
    piped = agentkit("run", "summarise", server=server, stdin="line one\nline two\n")
    assert piped.returncode == 0
    assert sent_prompt(server) == "line one\nline two\n\nsummarise"


def test_an_empty_prompt_is_a_usage_error(server: MockChatServer) -> None:
    empty = agentkit("run", server=server, stdin="  \n")
    assert empty.returncode == 2
    assert "prompt read from standard input is empty" in empty.stderr
    assert server.requests == []


def test_system_instructions_from_a_flag_or_a_file(server: MockChatServer, tmp_path: Path) -> None:
    server.add(Reply.text("a"), Reply.text("b"))
    agentkit("run", "hi", "--system", "Be terse.", server=server, stdin="")
    assert server.requests[-1].body["messages"][0] == {"role": "system", "content": "Be terse."}
    rules = tmp_path / "rules.txt"
    rules.write_text("Answer in French.\n")
    agentkit("run", "hi", "--system-file", str(rules), server=server, stdin="")
    assert server.requests[-1].body["messages"][0]["content"] == "Answer in French.\n"


def test_a_concise_schema_shapes_the_answer(server: MockChatServer) -> None:
    server.add(Reply.tool_calls(("final_result", {"name": "Ada", "age": 36, "bio": "Maths."})))
    done = agentkit("run", "Who?", "--schema", "name, age int, bio: a short bio", "--json",
                    server=server, stdin="")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["output"] == {"name": "Ada", "age": 36, "bio": "Maths."}
    tool = server.requests[0].body["tools"][0]["function"]
    assert tool["parameters"]["properties"]["bio"]["description"] == "a short bio"
    assert tool["parameters"]["properties"]["age"]["type"] == "integer"


def test_extract_takes_the_same_schemas(server: MockChatServer, tmp_path: Path) -> None:
    schema = tmp_path / "person.schema.json"
    schema.write_text(json.dumps({"type": "object", "properties": {
        "name": {"type": "string"}, "age": {"type": "integer", "description": "years"}},
        "required": ["name"]}))  # fmt: skip
    server.add(Reply.tool_calls(("Answer", {"name": "Ada", "age": 36})))  # the model's name
    done = agentkit("extract", "--schema", str(schema), server=server, stdin="Ada, 36.")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"name": "Ada", "age": 36}
    bad = agentkit("extract", "--schema", "name, age integer", server=server, stdin="x")
    assert bad.returncode == 2
    assert "use one of str, int, float, bool" in bad.stderr


def test_version_and_help() -> None:
    assert agentkit("--version").stdout.strip() == f"agentkit {__version__}"
    helped = agentkit("help", "batch", "run")
    assert helped.returncode == 0
    assert helped.stdout.startswith("usage: agentkit batch run")
    unknown = agentkit("help", "nope")
    assert unknown.returncode == 2
    assert "no command 'nope'" in unknown.stderr
    assert "hint" not in unknown.stderr


def test_a_command_without_its_action_shows_its_own_help() -> None:
    for command in ("tools", "batch", "sessions", "trace", "mcp"):
        shown = agentkit(command)
        assert shown.returncode == 2
        assert shown.stderr.startswith(f"usage: agentkit {command}"), shown.stderr


def test_one_rule_for_numbers_and_verbose_only_where_it_traces() -> None:
    for flag in ("--max-turns", "--seed", "--max-tokens"):
        refused = agentkit("run", "hi", flag, "0")
        assert refused.returncode == 2
        assert f"{flag} must be at least 1 (got 0)" in refused.stderr
    assert agentkit("tools", "list", "-v").returncode == 2
    assert "unrecognized arguments: -v" in agentkit("tools", "list", "-v").stderr


def test_a_missing_file_is_not_told_to_check_the_options(tmp_path: Path) -> None:
    missing = agentkit("run", "hi", "-T", str(tmp_path / "nope.py"))
    assert missing.returncode == 2
    assert "--help" not in missing.stderr


def test_a_local_server_that_is_not_running_is_named() -> None:
    from tests.peers import free_port

    port = free_port()  # nothing listens there
    refused = agentkit("run", "hi", "--model", "ollama:llama3.2", "--base-url",
                       f"http://127.0.0.1:{port}/v1", "--no-session", key=False, stdin="")  # fmt: skip
    assert refused.returncode == 3
    assert "is `ollama serve` running? (--base-url says where it listens)" in refused.stderr
    assert "check the key" not in refused.stderr


def test_models_does_not_call_an_unasked_local_server_ready() -> None:
    listed = json.loads(agentkit("models", "--json", key=False).stdout)
    ollama = next(row for row in listed if row["name"] == "ollama")
    assert ollama["status"] == "not checked: start it with `ollama serve`"


def test_errors_name_flags_not_python_arguments() -> None:
    wrong = agentkit("run", "hi", "--base-url", "ftp://example.org/v1", "--no-session", stdin="")
    assert wrong.returncode == 2
    assert "--base-url must start with http://" in wrong.stderr
    assert "base_url=" not in wrong.stderr


def test_a_deferred_call_is_traced_as_waiting(server: MockChatServer, tmp_path: Path) -> None:
    from .test_cli import FIXTURES

    server.add(Reply.tool_calls(("delete_file", {"path": "/tmp/x"})))
    done = agentkit("run", "rm", "-T", FIXTURES, "--defer", str(tmp_path / "s.json"), "-v",
                    server=server, stdin="")  # fmt: skip
    assert done.returncode == 9, done.stderr
    assert "(waiting for approval)" in done.stderr
    assert "(failed)" not in done.stderr


def test_a_misspelt_ready_made_tool_gets_a_did_you_mean() -> None:
    wrong = agentkit("run", "2*3?", "-T", "calculator", stdin="")
    assert wrong.returncode == 2
    assert "did you mean the ready-made 'calc' (-T calc)?" in wrong.stderr
