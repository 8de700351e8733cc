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


at = AppTest.from_file(app, default_timeout=300).run()
at.sidebar.radio(key="section").set_value("Try it").run()
at.file_uploader(key="uploads").set_value([("small.png", Path(small).read_bytes(), "image/png")]).run()
assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
at.file_uploader(key="uploads").set_value([]).run()
before = rss_mb()
at.file_uploader(key="uploads").set_value([(Path(p).name, Path(p).read_bytes(), "image/png") for p in big]).run()
assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
assert len([m for m in at.metric if m.label == "Verdict"]) == len(big)
print(f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3 - before:.0f}")
