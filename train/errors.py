"""The one kind of error a command reports in one line: bad input (a file, a folder, a run or an option
that is not what it should be). Standard library only; imports nothing from train."""
from __future__ import annotations

import functools
import sys


class InputError(Exception):
    """Something the user gave cannot be used; the message names it and says what is wrong."""


def one_line(e: BaseException, limit: int = 300) -> str:
    """An unexpected exception as one short line (the traceback goes to a log, not the terminal)."""
    return f"{type(e).__name__}: {e}".splitlines()[0][:limit]


def command(main):
    """A command's main(argv): an InputError becomes `error: <message>` on stderr and exit status 2."""
    @functools.wraps(main)
    def run(argv=None) -> int:
        try:
            return main(argv)
        except InputError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    return run
