"""CSV files of picture paths (predictions.csv, `train.predict --csv`): the one way they are opened and
the spreadsheet-safe cell rule (README, "CSV files"). Standard library only; imports nothing from train.

- UTF-8, and a file name that is not UTF-8 keeps its bytes: Python hands such a name over with its bytes
  as surrogates (surrogateescape) and this encoding writes them back as they were, so a path read from
  the file is the file's own name again.
- newline="": the csv module quotes a cell holding CR or LF, and only its own "\\r\\n" ends a row, so a name
  with a line break stays one cell of one row when read back.
"""
from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet evaluates a cell starting so (OWASP)
CSV_ERRORS = "surrogateescape"  # the codec error handler of these files (pandas takes it by name: app/run.py)


def open_csv(path, mode: str = "r"):
    return open(path, mode, encoding="utf-8", errors=CSV_ERRORS, newline="")


def spreadsheet_safe(cell: str) -> str:
    """`cell` prefixed with a single quote when a spreadsheet would take it for a formula (OWASP's CSV
    injection rule); static_site/results.js applies the same rule to the page's CSV."""
    return "'" + cell if cell.startswith(FORMULA_START) else cell
