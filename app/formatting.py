"""Numbers as the app shows them (a dash for anything missing or not finite), and text shown as itself
inside Markdown."""
from __future__ import annotations

import math
import re

from train.files import size_text

# Every ASCII punctuation character may be backslash-escaped in CommonMark: escaping them all leaves no
# link, image, emphasis, HTML, KaTeX ($) or Streamlit directive (:red[...], :material/...:) to find.
MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def md_text(text: str) -> str:
    """`text` (a file name, say) for st.markdown, to be shown as it is: bytes that are not UTF-8 (a name's
    surrogateescape) as the replacement sign, control characters (CR, LF, tab) as their visible symbols
    (U+2400...), every punctuation character escaped."""
    text = str(text).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    text = "".join(chr(0x2400 + ord(c)) if ord(c) < 32 else "\u2421" if c == "\x7f" else c for c in text)
    return MARKDOWN_PUNCTUATION.sub(r"\\\1", text)


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
