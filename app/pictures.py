"""Pictures: the original beside what the model saw, the vote map (each region's own answer, as the
page's "Where it looked"), and galleries of picture cards."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from train.preprocess import MAX_PIXELS, BadImage, load_rgb, model_eye_square, model_input, to_rgb_array

from app.formatting import md_text
from app.run import Run, cached_model, cached_spec


DISPLAY_SIDE = 1024  # the longer side, in px, of a picture decoded for display (the model's eye is ≤ 384)
# Pictures turned sideways by their EXIF orientation (5-8): their width and height swap.
SIDEWAYS = {5, 6, 7, 8}


def reduced_rgb(path: str, side: int = DISPLAY_SIDE) -> tuple[np.ndarray, tuple[int, int]]:
    """For display: the picture as load_rgb decodes it (EXIF orientation, any mode to RGB), but at most
    `side` px on its longer side, so a big picture costs its small copy, not its full size (8000x8000:
    192 MB): a JPEG decoded reduced (Pillow's draft, 1/2 to 1/8 scale), others reduced right after
    decoding. -> (RGB array, (width, height) of the picture as shown). A picture load_rgb refuses
    (corrupt, over MAX_PIXELS) raises its BadImage."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h <= MAX_PIXELS:
                im.seek(0)  # first frame of a GIF
                sideways = im.getexif().get(0x0112) in SIDEWAYS
                im.thumbnail((side, side))  # draft (JPEG) + reduce + resize, in place
                return to_rgb_array(ImageOps.exif_transpose(im)), ((h, w) if sideways else (w, h))
    except Exception:  # noqa: BLE001 — any failure: load_rgb says what is wrong, naming the file
        pass
    rgb = load_rgb(path)  # raises BadImage; else (a mode thumbnail cannot resize) reduced after decoding
    full = (rgb.shape[1], rgb.shape[0])
    if max(full) > side:
        im = Image.fromarray(rgb)
        im.thumbnail((side, side))
        rgb = np.asarray(im)
    return rgb, full

@st.cache_data(show_spinner=False, max_entries=400)
def picture_pair(file: bytes, run_dir: str, files_stamp: str):
    """-> (thumbnail of the original, the model's-eye square, None) or (None, None, why not, as Markdown
    naming the file by its escaped name). `file`: the
    path's bytes (os.fsencode), which Streamlit's cache can hash whatever the name (see picture_card)."""
    from PIL import Image

    path = os.fsdecode(file)
    if not Path(path).is_file():
        return None, None, "file not found (moved or deleted since training)"
    try:
        rgb, _ = reduced_rgb(path)
        eye = model_eye_square(rgb, cached_spec(run_dir, files_stamp))
    except BadImage as e:
        return None, None, md_text(str(e).replace(path, Path(path).name))
    thumb = Image.fromarray(rgb)
    thumb.thumbnail((320, 320))
    return np.asarray(thumb), display_square(eye), None

REGION_COLORS = ((31, 111, 235), (230, 110, 20), (40, 160, 90), (170, 60, 190), (200, 50, 60), (110, 110, 110))
REGION_SWATCHES = ("🟦", "🟧", "🟩", "🟪", "🟥", "⬛")  # the same colours, for the legend's text

def vote_legend(class_names) -> str:
    """Which colour is which class on a vote map."""
    return "Vote map: " + " · ".join(f"{REGION_SWATCHES[i % len(REGION_SWATCHES)]} {c}"
                                     for i, c in enumerate(class_names)) + "; stronger colour: surer region"

@st.cache_resource(show_spinner=False, max_entries=4)
def cached_vote_model(run_dir: str, files_stamp: str):
    """The run's model with its vote-map outputs (train/model.py exported_model), compiled once."""
    from train.model import exported_model

    spec, model = cached_model(run_dir, files_stamp)
    return exported_model(model, spec)

@st.cache_data(show_spinner=False, max_entries=400)
def vote_map(file: bytes, run_dir: str, files_stamp: str):
    """What the model saw with each region's own answer over it (as the page's "Where it looked"): the
    region's most likely class as its colour, stronger when surer, and that class's probability. `file`:
    as picture_pair's."""
    from PIL import Image, ImageDraw

    path = os.fsdecode(file)
    spec = cached_spec(run_dir, files_stamp)
    x = model_input(load_rgb(path), spec)
    out = cached_vote_model(run_dir, files_stamp)(x, training=False)
    regions, boxes = out["regions"].numpy()[0], out["region_boxes"].numpy()[0]
    eye = Image.fromarray(np.clip(np.round(x[0]), 0, 255).astype(np.uint8)).convert("RGBA")
    layer = Image.new("RGBA", eye.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    k = len(spec.class_names)
    for p, (top, left, h, w) in zip(regions, boxes):
        c = int(np.argmax(p))
        sure = (p[c] - 1 / k) / (1 - 1 / k)
        draw.rectangle([left, top, left + w - 1, top + h - 1], fill=(*REGION_COLORS[c % len(REGION_COLORS)],
                       int(255 * (0.15 + 0.45 * sure))), outline=(255, 255, 255, 200))
        draw.text((left + 3, top + 2), f"{spec.class_names[c]} {100 * p[c]:.0f}%", fill=(255, 255, 255, 255))
    return display_square(np.asarray(Image.alpha_composite(eye, layer).convert("RGB")))

def display_square(eye: np.ndarray, side: int = 192) -> np.ndarray:
    """For display only: a small model's-eye square blown up with visible pixels (no browser blur)."""
    from PIL import Image

    if eye.shape[0] >= side:
        return eye
    factor = -(-side // eye.shape[0])
    return np.asarray(Image.fromarray(eye).resize((eye.shape[1] * factor, eye.shape[0] * factor), Image.NEAREST))

def eye_caption(run: Run) -> str:
    try:
        spec = cached_spec(str(run.dir), run.stamp)
    except ValueError:
        return "model's eye"
    if spec.view == "crops":
        return f"model's eye (≤ {spec.max_side}px; it votes over {spec.grid}×{spec.grid} crops of {spec.input_size}px)"
    if spec.view == "picture":
        return f"model's eye (whole picture, ≤ {spec.max_side}px)"
    return f"model's eye ({spec.input_size}px)"

def picture_card(run: Run, path: str, lines: list[str], votes: bool = False) -> None:
    with st.container(border=True):
        if run.servable(path):
            # The path as bytes: a name that is not UTF-8 (surrogates in a str) cannot be hashed as a str.
            thumb, eye, problem = picture_pair(os.fsencode(path), str(run.dir), run.stamp)
        else:
            thumb, eye, problem = None, None, ("not a picture inside the run's data folder, so not shown (the app shows pictures "
                                            "from its --data folders only)")
        if problem:
            st.warning(f"Picture unavailable: {problem}", icon="🖼️")
        else:
            left, right = st.columns([1, 2] if votes else [1, 1])  # a vote map needs room for its labels
            left.image(thumb, caption="original", width="stretch")
            if votes:
                right.image(vote_map(os.fsencode(path), str(run.dir), run.stamp), width="stretch",
                            caption="each region's own answer (colour: its class, stronger: surer)")
            else:
                right.image(eye, caption=eye_caption(run), width="stretch")
        st.markdown(f"**{md_text(Path(path).name)}**  \n" + "  \n".join(lines))

def gallery(run: Run, rows: pd.DataFrame, lines_of, key: str, per_row: int = 4, votes: bool = False) -> None:
    if rows.empty:
        st.info("No pictures here.")
        return
    if votes:  # two cards a row: each vote map wide enough to read, with the legend once above
        per_row = min(per_row, 2)
        st.caption(vote_legend(run.classes))
    total = len(rows)
    shown = total
    if total > per_row:
        shown = st.slider("Pictures shown", per_row, max(per_row, min(total, 96)), min(total, 12),
                          step=1, key=f"{key}_shown")
    st.caption(f"{min(shown, total)} of {total} pictures")
    records = rows.head(shown).to_dict("records")
    for start in range(0, len(records), per_row):
        cols = st.columns(per_row)
        for col, rec in zip(cols, records[start:start + per_row]):
            with col:
                picture_card(run, rec["path"], lines_of(rec), votes=votes)
