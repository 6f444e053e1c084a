"""A tool that needs approval: the approver decides, a denial goes back to the model.

python examples/approvals.py
"""

from __future__ import annotations

from agentkit import Agent, ApprovalRequest, tool
from agentkit.testing import FakeModel, Reply


@tool(requires_approval=True)
def delete_file(path: str) -> str:
    """Delete a file.

    Args:
        path: The file to delete.
    """
    return f"deleted {path}"


def approve(request: ApprovalRequest) -> bool:
    # Decide on the validated arguments: exactly what the tool will be called with.
    allowed = str(request.arguments["path"]).startswith("/tmp/")
    print(f"approve {request.name}({request.arguments})? {'yes' if allowed else 'no'}")
    return allowed


def main() -> None:
    model = FakeModel(
        [
            Reply.tool_calls(
                ("delete_file", {"path": "/tmp/cache.db"}), ("delete_file", {"path": "/etc/passwd"})
            ),
            "I deleted /tmp/cache.db; deleting /etc/passwd was refused.",
        ]
    )
    result = Agent(model, tools=[delete_file], approver=approve).run_sync("Clean up.")
    for turn in result.turns:
        for tool_result in turn.tool_results:
            print(f"  {tool_result.call.name}: {tool_result.content}")
    print(result.output)


if __name__ == "__main__":
    main()
