"""Tools and types the CLI tests load by file path, as a user would."""

from __future__ import annotations

from pydantic import BaseModel

from agentkit import tool


@tool
def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


@tool(requires_approval=True)
def delete_file(path: str) -> str:
    """Delete a file.

    Args:
        path: Which file.
    """
    return f"deleted {path}"


class Contact(BaseModel):
    """A contact card."""

    name: str
    email: str | None = None


def read_page(page: int) -> str:
    """Read one page of the long document.

    Args:
        page: The page number.
    """
    return f"page {page}: " + "lorem ipsum " * 40  # ~500 characters
