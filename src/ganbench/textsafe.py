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


def printable(value) -> str:
    """``value`` with every non-printable character (line breaks too) as "?"; nothing else changes."""
    return "".join(c if c.isprintable() else "?" for c in str(value))


def shown(value, limit: int = 160) -> str:
    """``value`` as one printable piece of at most ``limit`` characters (a label, a name)."""
    text = printable(value)
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
    """``value`` as one printable line of at most ``limit`` characters, whitespace runs (line breaks too) as
    one space: an error message, which cannot then fake a line of its own."""
    return _cut(printable(" ".join(str(value).split())), limit)


def as_line(value, limit: int = LINE_LIMIT) -> str:
    """One line of output that may carry text from a stranger's files: printable (a line break inside it is
    "?", so it cannot fake a line of its own; indentation and spacing are kept) and cut to ``limit``."""
    return _cut(printable(value), limit)


def say(text, file=None, flush: bool = False) -> None:
    """Print ``as_line(text)`` (on stdout unless ``file``)."""
    print(as_line(text), file=file if file is not None else sys.stdout, flush=flush)


# notices this process has printed, and those its driver printed before starting it (a study's pool workers
# get the driver's: the driver reads every dataset before anything trains, so a study says each once)
_NOTICED: set[str] = set()


def notice_once(text: str) -> None:
    """``say(text)`` on stderr, unless this process (or its driver) already did: a notice about the data or
    a study's rows, which many runs and evaluations would otherwise repeat."""
    if text not in _NOTICED:
        _NOTICED.add(text)
        say(text, file=sys.stderr)


def noticed() -> list[str]:
    return sorted(_NOTICED)


def mark_noticed(texts: list[str]) -> None:
    """In a worker process: the notices its driver printed already (they are not repeated)."""
    _NOTICED.update(texts)
