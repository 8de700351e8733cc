"""Numbers as the app shows them: a dash for anything missing or not finite."""
from __future__ import annotations

import math

from train.files import size_text


def is_num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)

def pct(x) -> str:
    return f"{x:.1%}" if is_num(x) else "–"

def num3(x) -> str:
    return f"{x:.3f}" if is_num(x) else "–"

def human_bytes(n) -> str:
    """A size as the commands and the page say it (train.files.size_text)."""
    return size_text(n) if is_num(n) else "–"

def human_seconds(s) -> str:
    if not is_num(s):
        return "–"
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60)} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"

def prob_line(row, classes) -> str:
    return " · ".join(f"{c} {float(row[f'p_{c}']):.2f}" for c in classes)
