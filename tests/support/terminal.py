"""Terminal output as a person reads it: a stream that says it is a terminal, and text
without the colours and cursor moves rich draws on one."""

from __future__ import annotations

import io
import re

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal(io.StringIO):
    """A captured stream that says it is a terminal, as stderr is for a person."""

    def isatty(self) -> bool:
        return True


def plain(text: str) -> str:
    return ANSI.sub("", text)
