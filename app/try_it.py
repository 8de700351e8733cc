"""Try it: classify uploaded pictures with the run, and measure its TF.js bundles against model.keras."""
from __future__ import annotations

import tempfile
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from train import runs
from train.preprocess import IMAGE_EXTENSIONS, TOO_SMALL, decide, load_rgb, model_eye_square

from app.formatting import md_text
from app.pictures import display_square, eye_caption
from app.run import DEMO_NOTE, Run, cached_model


def section_try(run: Run) -> None:
    classes = run.classes
    st.header("Try it")
    st.caption(f"Server-side Keras, run `{run.id}`" + (" (the current model)" if run.current else ""))
    if run.demo:
        st.warning(DEMO_NOTE, icon="⚠️")
    st.info("The static page (`static_site/`) does the same in the browser with TF.js: the pictures never leave "
            "the visitor's computer. Here they are classified on the server with the Keras model.", icon="ℹ️")
    uploads = st.file_uploader("Pictures", type=[e.lstrip(".") for e in IMAGE_EXTENSIONS],
                               accept_multiple_files=True, key="uploads")
    if not uploads:
        return
    try:
        spec, model = cached_model(str(run.dir), run.stamp)
    except runs.RunError as e:
        st.error(f"Cannot load this run's model: {e}")
        return
    from train.predict import predict_files, verdict_of

    with tempfile.TemporaryDirectory(prefix="render-or-real-") as tmp:
        paths = []
        for i, f in enumerate(uploads):
            path = Path(tmp) / f"{i:04d}{Path(f.name).suffix.lower() or '.img'}"
            path.write_bytes(f.getvalue())
            paths.append(path)
        probs, errors = predict_files(model, spec, paths)
        for f, path, p, error in zip(uploads, paths, probs, errors):
            with st.container(border=True):
                if error:
                    if verdict_of(None, error, spec) == TOO_SMALL:
                        st.warning(f"{md_text(f.name)}: {TOO_SMALL}. " + error.split(f"{TOO_SMALL}: ", 1)[-1])
                    else:
                        st.error(md_text(error.replace(str(path), f.name)))
                    continue
                rgb = load_rgb(path)
                c1, c2, c3 = st.columns([2, 1, 2])
                c1.image(rgb, caption=f"{f.name} ({rgb.shape[1]}×{rgb.shape[0]})", width=min(rgb.shape[1], 320))
                c2.image(display_square(model_eye_square(rgb, spec)), caption=eye_caption(run), width="stretch")
                best = int(np.argmax(p))
                with c3:
                    st.metric("Verdict (demo model)" if run.demo else "Verdict", decide(p, spec),
                              help="the most probable class, or \"unsure\" when its probability is below the "
                                   "run's unsure level (the same rule as train.predict and the page)")
                    st.caption(f"P({classes[best]}) = {p[best]:.3f}" + (
                        f"; unsure below {spec.unsure_below:.3f}" if spec.unsure_below is not None else ""))
                    bars = pd.DataFrame({"class": classes, "probability": p.astype(float)})
                    st.altair_chart(alt.Chart(bars).mark_bar().encode(
                        x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1])), y=alt.Y("class:N", sort=classes),
                        tooltip=["class:N", alt.Tooltip("probability:Q", format=".3f")]).properties(height=alt.Step(26)),
                        width="stretch")
