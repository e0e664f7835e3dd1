"""Split a script typed into the console into single SQL statements.

The console runs statements one at a time so that each gets its own result, timing and query-log
entry. The splitter follows MariaDB's lexical rules closely enough never to cut inside:

- string literals in ``'...'`` and ``"..."`` (doubled quotes and backslash escapes, the server's
  default without ``NO_BACKSLASH_ESCAPES``) and identifiers in backticks;
- comments: ``-- `` (double dash followed by whitespace or end of input, as MariaDB requires),
  ``#`` to end of line, and ``/* ... */`` including executable ``/*! ... */`` comments.

Comments stay in the statement text (the server ignores them, and executable comments matter).
A piece holding nothing but whitespace and comments is dropped. The ``mariadb`` client's
``DELIMITER xx`` command is understood at the start of a line, so procedure and trigger bodies with
inner semicolons can be written as in a ``.sql`` file.
"""

from __future__ import annotations

from dataclasses import dataclass


class SplitError(ValueError):
    """The script cannot be split, e.g. a quote or comment is never closed."""


@dataclass(frozen=True)
class Statement:
    """One statement and where it starts in the script (1-based line), for error messages."""

    text: str
    line: int


def _is_blank(text: str) -> bool:
    """True when ``text`` holds only whitespace and (non-executable) comments."""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif text.startswith("--", i) and (i + 2 == n or text[i + 2].isspace()):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif text.startswith("/*", i) and not text.startswith("/*!", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            return False
    return True


def split_statements(script: str) -> list[Statement]:
    """Split ``script`` into statements, without their delimiters."""
    statements: list[Statement] = []
    delimiter = ";"
    n = len(script)
    i = 0
    start = 0  # start of the current statement
    line = 1  # current line number at position i
    start_line = 1
    at_line_start = True  # only whitespace since the last newline (for DELIMITER)

    def emit(end: int) -> None:
        text = script[start:end]
        if not _is_blank(text):
            # Line of the first non-blank character, for error messages.
            stripped = text.lstrip()
            first = start_line + text[: len(text) - len(stripped)].count("\n")
            statements.append(Statement(stripped.rstrip(), first))

    while i < n:
        c = script[i]

        if (
            at_line_start
            and script[i : i + 10].upper().startswith("DELIMITER")
            and (i + 9 < n and script[i + 9] in " \t")
        ):
            # Client command: everything up to the end of line is the new delimiter.
            emit(i)
            end = script.find("\n", i)
            end = n if end < 0 else end
            new = script[i + 9 : end].strip()
            if not new:
                raise SplitError(f"line {line}: DELIMITER needs a delimiter")
            delimiter = new
            i = end
            start, start_line = i, line
            continue

        if c == "\n":
            line += 1
            at_line_start = True
            i += 1
            continue
        if c in " \t\r":
            i += 1
            continue
        at_line_start = False

        if script.startswith(delimiter, i):
            emit(i)
            i += len(delimiter)
            start, start_line = i, line
            continue

        if c in "'\"`":
            j = i + 1
            while True:
                if j >= n:
                    raise SplitError(f"line {line}: {c} is never closed")
                d = script[j]
                if d == "\\" and c != "`":
                    j += 2  # backslash escape inside a string literal
                    continue
                if d == c:
                    if j + 1 < n and script[j + 1] == c:
                        j += 2  # doubled quote stands for itself
                        continue
                    break
                j += 1
            line += script.count("\n", i, j + 1)
            i = j + 1
            continue

        if c == "#" or (c == "-" and script.startswith("--", i) and (i + 2 == n or script[i + 2].isspace())):
            end = script.find("\n", i)
            i = n if end < 0 else end  # the newline itself is handled above
            continue

        if script.startswith("/*", i):
            end = script.find("*/", i + 2)
            if end < 0:
                raise SplitError(f"line {line}: comment /* is never closed")
            line += script.count("\n", i, end + 2)
            i = end + 2
            continue

        i += 1

    emit(n)
    return statements
