"""Layer 4 (run loop): the prompt's size in tokens, estimated without a tokenizer.

A quarter token per character of text, tool arguments and results, and a fixed amount per
attached image, document or audio part; each message is counted once as it joins, and once
the provider reported `prompt_tokens` for a request that sent the conversation as it was, the
estimate is that figure plus the count of what came after it (`PromptEstimate`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._messages import AssistantMessage, Message, TextPart, ToolMessage

__all__ = ["CHARS_PER_TOKEN", "PromptEstimate", "message_tokens"]

CHARS_PER_TOKEN = 4
"""The estimate's rule: a token per four characters of text, tool arguments and results."""
_MEDIA_TOKENS = 1_000
"""What an attached image, document or audio part is counted as (its content is not read)."""


def message_tokens(message: Message) -> int:
    """The estimate for one message: its text, arguments and parts."""
    content: Any = getattr(message, "content", None)
    size = 4  # the role and the framing
    if isinstance(content, str):
        size += len(content) // CHARS_PER_TOKEN
    elif isinstance(content, tuple):
        for part in content:
            text = part.text if isinstance(part, TextPart) else None
            size += len(text) // CHARS_PER_TOKEN if text is not None else _MEDIA_TOKENS
    if isinstance(message, AssistantMessage):
        size += sum((len(c.arguments) + len(c.name)) // CHARS_PER_TOKEN for c in message.tool_calls)
    if isinstance(message, ToolMessage):
        size += _MEDIA_TOKENS * len(message.parts)
    return size


class PromptEstimate:
    """The conversation's tokens before a request, in O(new messages) a turn.

    Each message is counted once, as it joins (a quarter token per character); once the
    provider reported `prompt_tokens` for a request that sent the conversation as it was,
    the estimate is that figure plus the count of what came after it.
    """

    def __init__(self) -> None:
        self.sizes = [0]
        """Running totals over the conversation's messages, one more per message."""
        self.report: tuple[int, int] | None = None
        """(prompt tokens, messages covered) of the last request sent unprocessed."""

    def of(self, messages: Sequence[Message]) -> int:
        """The estimate for the conversation `messages` (it only grows during a run)."""
        if len(messages) < len(self.sizes) - 1:  # not the conversation this one followed
            self.sizes, self.report = [0], None
        for message in messages[len(self.sizes) - 1 :]:
            self.sizes.append(self.sizes[-1] + message_tokens(message))
        if self.report is not None and self.report[1] < len(self.sizes):
            tokens, covered = self.report
            return tokens + self.sizes[-1] - self.sizes[covered]
        return self.sizes[-1]

    def reported(self, prompt_tokens: int, covered: int) -> None:
        """The provider counted `prompt_tokens` for the first `covered` messages, as sent."""
        if prompt_tokens > 0:
            self.report = (prompt_tokens, covered)
