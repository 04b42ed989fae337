"""Errors a user can cause, kept apart from programmer errors (which stay asserts/tracebacks)."""

from __future__ import annotations

import difflib
import errno
from collections.abc import Iterable


class UserError(Exception):
    """Bad input from the user. The CLI prints the message as one line and exits with code 2."""


# what a machine does to any command, not the user's input: a full disk or quota, a failing device. Such an
# OSError is left an OSError (not made a UserError), so the CLI exits 1 (cli.exit_code)
MACHINE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EIO)


# after an unknown component or metric name: a run or study made with a plugin names what only it registers
PLUGIN_HINT = " (one a plugin registers needs --plugin MODULE before the command)"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A short hint naming the closest valid choices, or '' when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.5)
    return f" (did you mean {', '.join(close)}?)" if close else ""
