"""Text from a stranger's files as a terminal may show it.

A run or study directory, a spec, a store or a data folder is data from anyone: a name or message read out
of it may hold an escape sequence (which drives the reader's terminal: retitles it, clears it, recolours
what follows), a carriage return (which overwrites the line before it), a bidi override (which shows the
text in another order than it is) or a NUL, or be 100,000 characters long. Everything the command line
prints from such text goes through here: every non-printable character (Python's ``str.isprintable``:
controls, format characters such as U+202E and U+2066-U+2069, line and paragraph separators) becomes "?",
and the text is cut to a bound. Printable text, accents and symbols included, is left as it is.
"""

from __future__ import annotations

import sys

# one printed line at most: far above any message of ganbench's own (paths included), far below a screenful
LINE_LIMIT = 2000


def shown(value, limit: int = 160) -> str:
    """``value`` as one printable piece of at most ``limit`` characters (a label, a name)."""
    text = "".join(c if c.isprintable() else "?" for c in str(value))
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _cut(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters, else its start and its end (where a message's advice is)
    around a note of how many characters were cut."""
    if len(text) <= limit:
        return text
    keep = limit - len(f" …[{len(text):,} characters cut]… ")  # the note is never longer than this
    head = keep * 3 // 5
    return f"{text[:head]} …[{len(text) - keep:,} characters cut]… {text[len(text) - (keep - head):]}"


def one_line(value, limit: int = LINE_LIMIT) -> str:
    """``value`` as one printable line of at most ``limit`` characters: line breaks (and other whitespace
    runs) become one space, so a message cannot fake a line of its own."""
    return _cut("".join(c if c.isprintable() else "?" for c in " ".join(str(value).split())), limit)


def lines(value, limit: int = LINE_LIMIT) -> str:
    """Text of several lines (a plan, a listing): each line printable and cut as ``one_line`` cuts it, its
    indentation and the line breaks kept."""
    return "\n".join(_cut("".join(c if c.isprintable() else "?" for c in line), limit)
                     for line in str(value).split("\n"))


def say(text, file=None, flush: bool = False) -> None:
    """Print one line that carries text from a stranger's files (stdout unless ``file``)."""
    print(one_line(text), file=file if file is not None else sys.stdout, flush=flush)


def warn(text) -> None:
    """Print one notice line that carries such text on stderr."""
    say(text, file=sys.stderr, flush=True)
