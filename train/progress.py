"""Progress of long loops over pictures: "features: 240/556 pictures, 31.5 pictures/s".

One line at most every few seconds on stderr (a log file stays readable; on a terminal the line is
rewritten in place), and a last line with the total and the rate. Loops that finish quickly print only
that last line, or nothing when `quiet_below` pictures or fewer.
"""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, label: str, total: int, every_s: float = 5.0, quiet_below: int = 0, stream=None):
        self.label, self.total, self.every_s, self.quiet_below = label, total, every_s, quiet_below
        self.stream = stream or sys.stderr
        self.done = 0
        self.start = self.last = time.perf_counter()
        self.tty = getattr(self.stream, "isatty", lambda: False)()

    def rate(self) -> float:
        return self.done / max(time.perf_counter() - self.start, 1e-9)

    def line(self) -> str:
        return f"{self.label}: {self.done}/{self.total} pictures, {self.rate():.1f} pictures/s"

    def add(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self.last >= self.every_s and self.done < self.total:
            self.last = now
            self.stream.write(("\r" + self.line()) if self.tty else self.line() + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.total > self.quiet_below:
            self.stream.write(("\r" if self.tty else "") + self.line() + f" ({time.perf_counter() - self.start:.1f} s)\n")
            self.stream.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            self.close()
        elif self.tty:
            self.stream.write("\n")
