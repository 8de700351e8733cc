"""render-or-real: how every training run behaves, before its model ships to visitors' browsers.

    streamlit run streamlit_app.py                 # reads models/ (runs written by `python -m train`)
    RENDER_OR_REAL_MODELS=/elsewhere/models streamlit run streamlit_app.py

The entry point: sign-in, the run picker and the page picker in the sidebar; each page is a module of
app/ (overview, confusion, threshold, compare, try_it), and what they share is split by job: options.py,
signin.py, run.py (the run object and its cached loading), formatting.py, charts.py, pictures.py (cards and
the vote map), empty.py (the empty state). Everything is read
from the run folders (metrics.json, predictions.csv, preprocessing.json, model.keras, tfjs*/) through the
training's own code: run discovery (train.runs), preprocessing (train.preprocess), prediction
(train.predict) and scores and curves (train.evaluate). Nothing here re-implements them.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `train` and `app` importable from any directory

import streamlit as st  # noqa: E402

from app.empty import page_empty, show_broken  # noqa: E402
from app.options import models_dir  # noqa: E402
from app.run import DEMO_NOTE, discover  # noqa: E402
from app.signin import signed_in  # noqa: E402
from app.compare import section_compare  # noqa: E402
from app.confusion import section_confusion  # noqa: E402
from app.overview import section_overview  # noqa: E402
from app.threshold import section_threshold  # noqa: E402
from app.try_it import section_try  # noqa: E402

# The pages, in sidebar order: name -> what draws it for the chosen run (and every run, to compare).
PAGES = {
    "Overview": lambda run, usable: section_overview(run),
    "Confusion & examples": lambda run, usable: section_confusion(run),
    "Threshold": lambda run, usable: section_threshold(run),
    "Compare": lambda run, usable: section_compare(usable, run),
    "Try it": lambda run, usable: section_try(run),
}


def main() -> None:
    st.set_page_config(page_title="render-or-real runs", page_icon="🏠", layout="wide")
    if not signed_in():
        return
    models = models_dir()
    usable, broken, current = discover(models)
    if not usable:
        page_empty(models, broken)
        return
    by_id = {r.id: r for r in usable}
    ids = list(by_id)
    with st.sidebar:
        st.title("render-or-real")
        section = st.radio("Section", list(PAGES), key="section")
        default = ids.index(current) if current in by_id else 0
        run = by_id[st.selectbox("Run", ids, index=default, key="run",
                                 format_func=lambda i: by_id[i].label() + f" · {by_id[i].arch}")]
        if run.demo:
            st.warning(DEMO_NOTE, icon="⚠️")
        st.caption(f"{len(usable)} runs in `{models.resolve()}`"
                   + (f"; {len(broken)} skipped" if broken else ""))
    show_broken(broken, current)
    PAGES[section](run, usable)


main()
