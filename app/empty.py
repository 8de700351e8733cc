"""What the app says when there is nothing to show yet, and about run folders it skips."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from app.options import MODELS_ENV


def page_empty(models: Path, broken) -> None:
    st.title("render-or-real")
    st.header("No training runs yet")
    st.markdown(f"There is no complete run in `{models}/runs/` yet. Train one (a synthetic demo data set is "
                "generated when there is no `data/` folder), then reload this page:")
    st.code("python -m train", language="bash")
    st.markdown(f"Runs are read from `{models}` (set `{MODELS_ENV}` to read another folder).")
    show_broken(broken, None)

def show_broken(broken, current) -> None:
    for name, problem in broken:
        note = " `models/current` points at it; showing the newest complete run instead." if name == current else ""
        hint = f" Continue it with `python -m train --resume {name}`." if problem.startswith("failed") else ""
        st.warning(f"{'Failed run' if problem.startswith('failed') else 'Skipped run folder'} `{name}`: "
                   f"{problem}.{note}{hint}", icon="⚠️")
