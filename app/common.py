"""What every page of the app shares: its options, the cached loading of runs, formatting, charts,
the picture cards and the sign-in."""
from __future__ import annotations

import argparse
import hmac
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from train import runs
from train.preprocess import IMAGE_EXTENSIONS, SPEC_FILE, BadImage, load_rgb, load_spec, model_eye_square, model_input

MODELS_ENV = "RENDER_OR_REAL_MODELS"
PASSWORD_ENV = "RENDER_OR_REAL_PASSWORD"
SPLITS = {"test": "test", "val": "validation"}  # split name (predictions.csv, metrics.json) -> the word shown
ORIGINAL_ARCH = "rendernet2017"  # the 2017 experiment, re-created (train/model.py)
TFJS_MAX_PICTURES = 300  # Keras vs TF.js: at most this many test pictures are run through Node


# ---------------------------------------------------------------- loading (cached)


def app_args() -> argparse.Namespace:
    """The app's own options, after `--` on the streamlit command line: --models DIR (the option every
    command has) and --login (ask for the password; the Procfile passes it)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--models")
    parser.add_argument("--login", action="store_true")
    return parser.parse_known_args(sys.argv[1:])[0]


def models_dir() -> Path:
    """--models DIR, else $RENDER_OR_REAL_MODELS (for hosts where only the environment can be set),
    else models/."""
    return Path(app_args().models or os.environ.get(MODELS_ENV) or "models")


def stamp(run_dir: Path) -> str:
    """Part of every cache key: a run folder rewritten in place (same path) is read again."""
    parts = []
    for name in ("metrics.json", "predictions.csv", "model.keras", SPEC_FILE):
        try:
            s = (Path(run_dir) / name).stat()
            parts.append(f"{s.st_mtime_ns}:{s.st_size}")
        except OSError:
            parts.append("-")
    return "/".join(parts)


# Bounded memory: every cache keeps a few entries (least recently used go first), keyed by the run folder
# and its files' stamp, so a changed or vanished run is read again or skipped.
@st.cache_data(show_spinner=False, max_entries=64)
def cached_metrics(run_dir: str, _stamp: str) -> dict:
    m = runs.load_metrics(Path(run_dir))
    names = m.get("class_names") if isinstance(m, dict) else None
    if not (isinstance(names, list) and len(names) >= 2 and all(isinstance(c, str) for c in names)):
        raise ValueError("metrics.json has no usable class_names")
    return m


@st.cache_data(show_spinner=False, max_entries=16)
def cached_predictions(run_dir: str, _stamp: str, class_names: tuple[str, ...]) -> pd.DataFrame:
    df = pd.read_csv(Path(run_dir) / "predictions.csv", dtype={"path": str, "split": str,
                                                               "true_class": str, "predicted_class": str})
    needed = ["path", "split", "true_class", "predicted_class"] + [f"p_{c}" for c in class_names]
    absent = [c for c in needed if c not in df.columns]
    if absent:
        raise ValueError(f"predictions.csv lacks the columns {', '.join(absent)}")
    unknown = set(df["true_class"]) - set(class_names)
    if unknown:
        raise ValueError(f"predictions.csv names classes not in metrics.json: {sorted(unknown)}")
    for c in class_names:
        df[f"p_{c}"] = df[f"p_{c}"].astype(float)
    return df


@st.cache_data(show_spinner=False, max_entries=64)
def cached_spec(run_dir: str, _stamp: str):
    return load_spec(Path(run_dir) / SPEC_FILE)


@st.cache_resource(show_spinner="Loading the Keras model ...", max_entries=2)
def cached_model(run_dir: str, _stamp: str):
    """(spec, keras model), loaded once per run folder for every session."""
    return runs.load_run_model(Path(run_dir))


@dataclass
class Run:
    id: str
    dir: Path
    stamp: str
    metrics: dict
    predictions: pd.DataFrame
    current: bool

    @property
    def classes(self) -> list[str]:
        return list(self.metrics["class_names"])

    @property
    def arch(self) -> str:
        return str(self.metrics.get("arch", "?"))

    def split_rows(self, split: str) -> pd.DataFrame:
        return self.predictions[self.predictions["split"] == split]

    @property
    def demo(self) -> bool:
        return bool((self.metrics.get("data") or {}).get("synthetic"))

    def servable(self, path: str) -> bool:
        """A picture path from predictions.csv is shown only if it is a picture inside the run's own data
        folder: a hand-edited CSV ("../../etc/passwd", "/home/x/id_rsa") reaches nothing else."""
        root = (self.metrics.get("data") or {}).get("root")
        if not root or Path(path).suffix.lower() not in IMAGE_EXTENSIONS:
            return False
        root, target = os.path.abspath(root), os.path.abspath(path)
        return os.path.commonpath([root, target]) == root

    def label(self) -> str:
        """The run and its state: current, or candidate (complete, not current); demo when trained on the
        synthetic demo data. (Failed runs are listed apart, as skipped folders.)"""
        state = "current" if self.current else "candidate"
        return f"{self.id} ({state}{', demo' if self.demo else ''})"


def discover(models: Path) -> tuple[list[Run], list[tuple[str, str]], str | None]:
    """-> (usable runs, newest first; [(folder name, what is wrong)] for skipped ones; current id)."""
    good, bad = runs.list_runs(models)
    broken = [(path.name, problem) for path, problem in bad]
    current = runs.current_run_id(models)
    usable = []
    for path in good:
        key = stamp(path)
        try:
            m = cached_metrics(str(path), key)
            preds = cached_predictions(str(path), key, tuple(m["class_names"]))
        except Exception as e:  # any damage: the run is skipped, the app goes on
            broken.append((path.name, f"{type(e).__name__}: {e}".splitlines()[0]))
            continue
        usable.append(Run(path.name, path, key, m, preds, path.name == current))
    usable.sort(key=lambda r: (str(r.metrics.get("created", "")), r.id), reverse=True)
    return usable, broken, current


# ---------------------------------------------------------------- formatting


def is_num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def pct(x) -> str:
    return f"{x:.1%}" if is_num(x) else "–"


def num3(x) -> str:
    return f"{x:.3f}" if is_num(x) else "–"


def human_bytes(n) -> str:
    if not is_num(n):
        return "–"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def human_seconds(s) -> str:
    if not is_num(s):
        return "–"
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60)} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"


def report(run: Run, split: str) -> dict | None:
    """metrics.json's report for a predictions.csv split name ('test', 'val')."""
    r = run.metrics.get(split)
    return r if isinstance(r, dict) else None


def labels_and_probs(rows: pd.DataFrame, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    y = rows["true_class"].map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=int)
    return y, rows[[f"p_{c}" for c in classes]].to_numpy(dtype=float)


def prob_line(row, classes) -> str:
    return " · ".join(f"{c} {float(row[f'p_{c}']):.2f}" for c in classes)


# ---------------------------------------------------------------- charts (Altair / Vega-Lite)


def confusion_frame(cm, classes, chosen=None) -> pd.DataFrame:
    cm = np.asarray(cm)
    rows = cm.sum(axis=1)
    return pd.DataFrame([{"true_class": t, "predicted_class": p, "count": int(cm[i, j]),
                          "share": float(cm[i, j] / rows[i]) if rows[i] else 0.0,
                          "chosen": (t, p) == chosen}
                         for i, t in enumerate(classes) for j, p in enumerate(classes)])


def confusion_chart(cm, classes, selectable: bool = False, chosen=None) -> alt.Chart:
    """Rows true classes, columns predicted; `selectable`: a click selects a cell ("cell" parameter);
    `chosen` (true, predicted): the cell outlined."""
    df = confusion_frame(cm, classes, chosen)
    step = max(48, min(120, 360 // len(classes)))  # cell size (Streamlit keeps a Step size as given)
    base = alt.Chart(df).encode(
        x=alt.X("predicted_class:N", sort=list(classes), title="predicted", axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("true_class:N", sort=list(classes), title="true"))
    rect = base.mark_rect(cursor="pointer" if selectable else "default").encode(
        color=alt.Color("share:Q", scale=alt.Scale(scheme="blues", domain=[0, 1]), legend=None),  # shade: share of the row
        stroke=alt.condition("datum.chosen", alt.value("#f58518"), alt.value("white")),
        strokeWidth=alt.condition("datum.chosen", alt.value(5), alt.value(2)),
        tooltip=[alt.Tooltip("true_class:N", title="true"), alt.Tooltip("predicted_class:N", title="predicted"),
                 alt.Tooltip("count:Q", title="pictures"), alt.Tooltip("share:Q", title="share of row", format=".1%")])
    if selectable:
        pick = alt.selection_point(name="cell", fields=["true_class", "predicted_class"], on="click", empty=False)
        rect = rect.add_params(pick)
    text = base.mark_text(fontSize=18, fontWeight="bold").encode(
        text="count:Q", color=alt.condition("datum.share > 0.5", alt.value("white"), alt.value("#222")))
    return (rect + text).properties(width=alt.Step(step), height=alt.Step(step))


def curve_chart(df: pd.DataFrame, x: str, y: str, here: pd.DataFrame, title: str, diagonal: bool) -> alt.Chart:
    line = alt.Chart(df).mark_line(interpolate="step-after" if not diagonal else "linear").encode(
        x=alt.X(f"{x}:Q", scale=alt.Scale(domain=[0, 1])), y=alt.Y(f"{y}:Q", scale=alt.Scale(domain=[0, 1])),
        tooltip=[alt.Tooltip(f"{x}:Q", format=".3f"), alt.Tooltip(f"{y}:Q", format=".3f"),
                 alt.Tooltip("threshold:Q", format=".3f")])
    layers = [line]
    if diagonal:
        layers.insert(0, alt.Chart(pd.DataFrame({x: [0, 1], y: [0, 1]})).mark_line(
            strokeDash=[4, 4], color="#bbb").encode(x=f"{x}:Q", y=f"{y}:Q"))
    points = alt.Chart(here).mark_point(size=160, filled=True).encode(
        x=f"{x}:Q", y=f"{y}:Q",
        color=alt.Color("point:N", title=None, scale=alt.Scale(domain=["slider", "run's threshold"],
                                                              range=["#e45756", "#54a24b"])),
        shape=alt.Shape("point:N", title=None, scale=alt.Scale(domain=["slider", "run's threshold"],
                                                              range=["circle", "diamond"])),
        tooltip=["point:N", alt.Tooltip("threshold:Q", format=".3f"), alt.Tooltip(f"{x}:Q", format=".3f"),
                 alt.Tooltip(f"{y}:Q", format=".3f")])
    return alt.layer(*layers, points).properties(title=title, height=320)


def training_curves(history: dict, best_epoch) -> list[tuple[str, alt.Chart]]:
    """One chart per metric (loss, accuracy, ...): train vs validation per epoch."""
    rows = []
    for key, values in history.items():
        if not isinstance(values, list):
            continue
        name, part = (key[4:], "validation") if key.startswith("val_") else (key, "train")
        rows += [{"metric": name, "set": part, "epoch": i + 1, "value": float(v)}
                 for i, v in enumerate(values) if is_num(v)]
    if not rows:
        return []
    df = pd.DataFrame(rows)
    order = [m for m in ("loss", "accuracy") if m in set(df["metric"])]
    order += sorted(set(df["metric"]) - set(order))
    charts = []
    for name in order:
        part = df[df["metric"] == name]
        chart = alt.Chart(part).mark_line(point=True).encode(
            x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1)), y=alt.Y("value:Q", title=name, scale=alt.Scale(zero=False)),
            color=alt.Color("set:N", title=None, sort=["train", "validation"]),
            tooltip=["set:N", "epoch:Q", alt.Tooltip("value:Q", format=".4f")])
        if is_num(best_epoch):
            chart = chart + alt.Chart(pd.DataFrame({"epoch": [best_epoch]})).mark_rule(
                strokeDash=[4, 3], color="#888").encode(x="epoch:Q", tooltip=[alt.Tooltip("epoch:Q", title="best epoch")])
        charts.append((name, chart.properties(title=name, height=260)))
    return charts


# ---------------------------------------------------------------- pictures


@st.cache_data(show_spinner=False, max_entries=400)
def picture_pair(path: str, run_dir: str, _stamp: str):
    """-> (thumbnail of the original, the model's-eye square, None) or (None, None, why not)."""
    from PIL import Image

    if not Path(path).is_file():
        return None, None, "file not found (moved or deleted since training)"
    try:
        rgb = load_rgb(path)
        eye = model_eye_square(rgb, cached_spec(run_dir, _stamp))
    except BadImage as e:
        return None, None, str(e).replace(path, Path(path).name)
    thumb = Image.fromarray(rgb)
    thumb.thumbnail((320, 320))
    return np.asarray(thumb), display_square(eye), None


REGION_COLORS = ((31, 111, 235), (230, 110, 20), (40, 160, 90), (170, 60, 190), (200, 50, 60), (110, 110, 110))


@st.cache_resource(show_spinner=False, max_entries=4)
def cached_vote_model(run_dir: str, _stamp: str):
    """The run's model with its vote-map outputs (train/model.py exported_model), compiled once."""
    from train.model import exported_model

    spec, model = cached_model(run_dir, _stamp)
    return exported_model(model, spec)


@st.cache_data(show_spinner=False, max_entries=400)
def vote_map(path: str, run_dir: str, _stamp: str):
    """What the model saw with each region's own answer over it (as the page's "Where it looked"): the
    region's most likely class as its colour, stronger when surer, and that class's probability."""
    from PIL import Image, ImageDraw

    spec = cached_spec(run_dir, _stamp)
    x = model_input(load_rgb(path), spec)
    out = cached_vote_model(run_dir, _stamp)(x, training=False)
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
            thumb, eye, problem = picture_pair(path, str(run.dir), run.stamp)
        else:
            thumb, eye, problem = None, None, "not a picture inside the run's data folder, so not shown"
        if problem:
            st.warning(f"Picture unavailable: {problem}", icon="🖼️")
        else:
            left, right = st.columns(2)
            left.image(thumb, caption="original", width="stretch")
            if votes:
                right.image(vote_map(path, str(run.dir), run.stamp), width="stretch",
                            caption="each region's own answer (colour: its class, stronger: surer)")
            else:
                right.image(eye, caption=eye_caption(run), width="stretch")
        st.markdown(f"**{Path(path).name}**  \n" + "  \n".join(lines))


def gallery(run: Run, rows: pd.DataFrame, lines_of, key: str, per_row: int = 4, votes: bool = False) -> None:
    if rows.empty:
        st.info("No pictures here.")
        return
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


# ---------------------------------------------------------------- sections


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





def configured_password() -> str | None:
    """`password` in .streamlit/secrets.toml (st.secrets), else $RENDER_OR_REAL_PASSWORD."""
    try:
        secret = st.secrets.get("password")
    except Exception:  # no secrets file at all: Streamlit raises rather than returning nothing
        secret = None
    return secret or os.environ.get(PASSWORD_ENV) or None


def signed_in() -> bool:
    """The door of a deployment. Locally (no password configured, no --login) the app is open. With a
    password configured, or started with `-- --login` (the Procfile does), it asks for the password
    first; --login with no password configured shows nothing but how to set one."""
    wanted = app_args().login
    password = configured_password()
    if not password and not wanted:
        return True
    if not password:
        st.error(f"This deployment needs a password before it shows any run: set `password` in "
                 f".streamlit/secrets.toml or the environment variable {PASSWORD_ENV}.")
        return False
    if st.session_state.get("signed_in"):
        return True
    st.title("render-or-real runs")
    given = st.text_input("Password", type="password", key="password")
    if given:
        if hmac.compare_digest(given.encode(), password.encode()):
            st.session_state["signed_in"] = True
            st.rerun()
        st.error("Wrong password.")
    return False
