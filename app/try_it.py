"""Try it: classify uploaded pictures with the run, and measure its TF.js bundles against model.keras."""
from __future__ import annotations

import tempfile
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from train import runs
from train.preprocess import IMAGE_EXTENSIONS, TOO_SMALL, decide, model_eye_square

from app.formatting import md_text
from app.pictures import display_square, eye_caption, reduced_rgb
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
        paths, sizes = [], []
        for i, f in enumerate(uploads):
            path = Path(tmp) / f"{i:04d}{Path(f.name).suffix.lower() or '.img'}"
            path.write_bytes(f.getvalue())
            path, size = reduced_for_model(path, spec)
            paths.append(path)
            sizes.append(size)
        probs, errors = predict_files(model, spec, paths)
        for f, path, size, p, error in zip(uploads, paths, sizes, probs, errors):
            with st.container(border=True):
                if error:
                    if verdict_of(None, error, spec) == TOO_SMALL:
                        st.warning(f"{md_text(f.name)}: {TOO_SMALL}. " + error.split(f"{TOO_SMALL}: ", 1)[-1])
                    else:
                        st.error(md_text(error.replace(str(path), f.name)))
                    continue
                rgb, shown = reduced_rgb(str(path))  # shown small: memory bounded whatever the upload
                width, height = size or shown
                c1, c2, c3 = st.columns([2, 1, 2])
                c1.image(rgb, caption=f"{f.name} ({width}×{height})", width=min(width, 320))
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

def reduced_for_model(path: Path, spec) -> tuple[Path, tuple[int, int] | None]:
    """Bounded memory: a full-size decode costs about 30 bytes a pixel on the way to the model (an
    8000x8000 upload: 2 GB, two at a time), so a picture more than twice the size the model brings it
    down to (its longer side to max_side, its shorter side at least input_size) is decoded reduced once
    (app.pictures.reduced_rgb) to twice that size and saved beside it, losslessly, for the model: the
    model's own resize then still shrinks it, so the verdict is the one of the full picture but for
    rounding. -> (the file to predict on, (width, height) of the upload, or None if unreadable: then the
    upload itself, for train.predict to say what is wrong)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            long, short = max(im.size), min(im.size)
        side = max(2 * spec.max_side, -(-2 * spec.input_size * long // max(short, 1)))
        rgb, size = reduced_rgb(str(path), side)
    except Exception:  # noqa: BLE001 — not a picture this can read: train.predict names the problem
        return path, None
    if max(size) <= side:
        return path, size
    small = path.with_name(f"{path.stem}-reduced.png")
    Image.fromarray(rgb).save(small)
    return small, size
