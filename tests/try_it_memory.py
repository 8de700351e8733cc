"""Run by tests/test_streamlit_app.py in a fresh process: the Try it page given a small picture (the
model loaded), then the pictures named on the command line; prints the rise of the peak RSS in MB over
the resident memory before those uploads."""
import resource
import sys
from pathlib import Path

from streamlit.testing.v1 import AppTest

app, small, *big = sys.argv[1:]


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 1e6


def peak_mb() -> float:
    """The peak resident memory since the last `reset_peak` (Linux's VmHWM)."""
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024 / 1e6


def reset_peak() -> None:
    """The peak back to the resident memory now, so that the model's loading (its own peak) is not
    counted as the uploads' (Linux: clear_refs 5 resets VmHWM)."""
    Path("/proc/self/clear_refs").write_text("5")


at = AppTest.from_file(app, default_timeout=300).run()
at.sidebar.radio(key="section").set_value("Try it").run()
at.file_uploader(key="uploads").set_value([("small.png", Path(small).read_bytes(), "image/png")]).run()
assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
at.file_uploader(key="uploads").set_value([]).run()
before = rss_mb()
reset_peak()
at.file_uploader(key="uploads").set_value([(Path(p).name, Path(p).read_bytes(), "image/png") for p in big]).run()
assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
assert len([m for m in at.metric if m.label == "Verdict"]) == len(big)
print(f"{peak_mb() - before:.0f}")
