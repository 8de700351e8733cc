"""render-or-real: how every training run behaves, before its model ships to visitors' browsers.

    streamlit run streamlit_app.py                 # reads models/ (runs written by `python -m train`)
    RENDER_OR_REAL_MODELS=/elsewhere/models streamlit run streamlit_app.py

Sections (sidebar): Overview, Confusion & examples, Threshold, Compare, Try it. Everything is read
from the run folders (metrics.json, predictions.csv, preprocessing.json, model.keras, tfjs*/) through
the training's own code: run discovery (train.runs), preprocessing (train.preprocess), prediction
(train.predict) and scores (train.evaluate). Nothing here re-implements them.
"""
from __future__ import annotations

import argparse
import hmac
import math
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `train` importable from any working directory

import altair as alt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from train import runs  # noqa: E402
from train.evaluate import confusion, curves, predict_with_threshold, scores_from_confusion  # noqa: E402
from train.export import folder_bytes  # noqa: E402
from train.preprocess import (IMAGE_EXTENSIONS, SPEC_FILE, TOO_SMALL, BadImage, decide, load_rgb, load_spec,  # noqa: E402
                              model_eye_square)

MODELS_ENV = "RENDER_OR_REAL_MODELS"
PASSWORD_ENV = "RENDER_OR_REAL_PASSWORD"
SECTIONS = ("Overview", "Confusion & examples", "Threshold", "Compare", "Try it")
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


def picture_card(run: Run, path: str, lines: list[str]) -> None:
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
            right.image(eye, caption=eye_caption(run), width="stretch")
        st.markdown(f"**{Path(path).name}**  \n" + "  \n".join(lines))


def gallery(run: Run, rows: pd.DataFrame, lines_of, key: str, per_row: int = 4) -> None:
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
                picture_card(run, rec["path"], lines_of(rec))


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


def section_overview(run: Run) -> None:
    m = run.metrics
    st.header(f"Overview: {run.id}")
    data = m.get("data") or {}
    st.caption(f"architecture **{run.arch}** · created {m.get('created', '?')} · data `{data.get('root', '?')}` · "
               f"command `{m.get('command', '?')}`")
    if data.get("synthetic"):
        st.info("This run was trained on the SYNTHETIC demo data set: its scores say nothing about real pictures.")

    split = st.radio("Scores on", list(SPLITS), format_func=SPLITS.get, horizontal=True, key="overview_split")
    r = report(run, split)
    if not r:
        st.info(f"No {SPLITS[split]} pictures in this run.")
    else:
        cols = st.columns(4)
        cols[0].metric("Accuracy", pct(r.get("accuracy")), help=f"argmax decision, {r.get('n', '?')} pictures")
        cols[1].metric("Balanced accuracy", pct(r.get("balanced_accuracy")))
        cols[2].metric("Macro F1", num3(r.get("macro_f1")))
        cols[3].metric("ROC AUC", num3(r.get("roc_auc")) if "roc_auc" in r else "–",
                       help=f"P({m.get('positive_class')}) ranks the pictures" if m.get("positive_class") else None)
        per_class = r.get("per_class") or {}
        if per_class:
            table = pd.DataFrame.from_dict(per_class, orient="index")
            table.index.name = "class"
            st.dataframe(table, column_config={
                "precision": st.column_config.NumberColumn(format="%.3f"),
                "recall": st.column_config.NumberColumn(format="%.3f"),
                "f1": st.column_config.NumberColumn("F1", format="%.3f"),
                "support": st.column_config.NumberColumn(format="%d")})
        at = r.get("at_threshold")
        if isinstance(at, dict) and is_num(at.get("threshold")):
            st.caption(f"At the run's threshold, P({m.get('positive_class')}) ≥ {at['threshold']:.3f}: accuracy "
                       f"{pct(at.get('accuracy'))}, balanced accuracy {pct(at.get('balanced_accuracy'))}. "
                       "The Threshold section moves it.")
        sure = r.get("when_sure")
        if isinstance(sure, dict) and is_num(sure.get("unsure_below")):
            st.markdown(f"**When sure** (largest probability ≥ {sure['unsure_below']:.3f}, chosen for ≥ 97 % right "
                        f"answers on pictures the model was not trained on): answers {pct(sure.get('coverage'))} of "
                        f"the pictures, {pct(sure.get('accuracy'))} of them right; the rest are \"unsure\".")
        sources = r.get("by_source")
        if isinstance(sources, dict) and sources:
            st.markdown("**Accuracy per source** (file-name prefix): a good overall score can hide a source "
                        "the model gets wrong.")
            table = pd.DataFrame([{"source": k, "pictures": v.get("n"), "accuracy": v.get("accuracy")}
                                  for k, v in sources.items() if isinstance(v, dict)]).set_index("source")
            st.dataframe(table, column_config={"accuracy": st.column_config.NumberColumn(format="percent")})
        slices = r.get("slices")
        if isinstance(slices, dict) and slices:
            st.markdown("**Named slices** (`--slice NAME=REGEX` on the picture paths, e.g. interiors only).")
            table = pd.DataFrame([{"slice": k, "pattern": v.get("pattern"), "pictures": v.get("n"),
                                   "accuracy": v.get("accuracy"), "balanced accuracy": v.get("balanced_accuracy")}
                                  for k, v in slices.items() if isinstance(v, dict)]).set_index("slice")
            st.dataframe(table, column_config={
                "accuracy": st.column_config.NumberColumn(format="percent"),
                "balanced accuracy": st.column_config.NumberColumn(format="percent")})
        known = {"n", "accuracy", "balanced_accuracy", "macro_f1", "per_class", "confusion_matrix", "roc_auc",
                 "at_threshold", "by_source", "slices", "when_sure"}
        extra = {k: v for k, v in r.items() if k not in known}
        if extra:
            with st.expander(f"More scores ({', '.join(extra)})"):
                st.json(extra)

    st.subheader("Data")
    counts = data.get("counts") or {}
    if counts:
        table = pd.DataFrame.from_dict(counts, orient="index").reindex(columns=run.classes).fillna(0).astype(int)
        table.index.name = "split"
        table["total"] = table.sum(axis=1)
        table.loc["total"] = table.sum(axis=0)
        st.dataframe(table)
    notes = []
    if data.get("skipped_count"):
        notes.append(f"{data['skipped_count']} unreadable files skipped (listed in metrics.json)")
    if data.get("class_weights"):
        notes.append("class weights: " + ", ".join(f"{k} {v:.2f}" for k, v in data["class_weights"].items()))
    if notes:
        st.caption(" · ".join(notes))

    st.subheader("Model")
    model = m.get("model") or {}
    sizes = model.get("bytes") or {}
    served = model.get("served_tfjs", "tfjs")
    timings = m.get("timings") or {}
    cols = st.columns(4)
    cols[0].metric("Parameters", f"{model['params']:,}" if is_num(model.get("params")) else "–")
    cols[1].metric("Keras model", human_bytes(sizes.get("model.keras")))
    cols[2].metric("TF.js bundle", human_bytes(sizes.get(served)), help=f"`{served}/`, what the static page loads")
    cols[3].metric("Training time", human_seconds(timings.get("train_s")),
                   help=f"whole run {human_seconds(timings.get('total_s'))}")
    st.caption(f"{m.get('epochs_run', '?')} epochs, best epoch {m.get('best_epoch', '?')} · "
               f"{timings.get('train_images_per_s', '?')} pictures/s in training · sizes: "
               + ", ".join(f"`{k}` {human_bytes(v)}" for k, v in sizes.items()))

    st.subheader("Training curves")
    charts = training_curves(m.get("history") or {}, m.get("best_epoch"))
    if not charts:
        st.info("No training history in metrics.json.")
    cols = st.columns(2)
    for i, (_, chart) in enumerate(charts):
        with cols[i % 2]:
            st.altair_chart(chart, width="stretch")
    with st.expander("Everything in metrics.json"):
        st.json(m, expanded=False)


def _pick_cell(split: str) -> None:
    """Click on the confusion matrix -> the cell's selectboxes."""
    state = st.session_state.get(f"cm_chart_{split}")
    picked = state.selection.get("cell") if state is not None else None
    if isinstance(picked, dict):
        picked = [picked]
    if picked and "true_class" in picked[0] and "predicted_class" in picked[0]:
        st.session_state["cm_true"] = picked[0]["true_class"]
        st.session_state["cm_pred"] = picked[0]["predicted_class"]


def section_confusion(run: Run) -> None:
    classes = run.classes
    st.header(f"Confusion matrix and examples: {run.id}")
    split = st.radio("Pictures of", list(SPLITS), format_func=SPLITS.get, horizontal=True, key="cm_split")
    rows = run.split_rows(split)
    if rows.empty:
        st.info(f"No {SPLITS[split]} pictures in this run.")
        return
    y, probs = labels_and_probs(rows, classes)
    pred = rows["predicted_class"].map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=int)
    cm = confusion(y, pred, len(classes))
    # Default cell: the biggest mistake cell (the diagonal's first cell when there is no mistake).
    off = [(cm[i, j], i, j) for i in range(len(classes)) for j in range(len(classes)) if i != j and cm[i, j]]
    _, ti, pj = max(off) if off else (0, 0, 0)
    if st.session_state.get("cm_true") not in classes:
        st.session_state["cm_true"] = classes[ti]
    if st.session_state.get("cm_pred") not in classes:
        st.session_state["cm_pred"] = classes[pj]

    left, right = st.columns([3, 2])
    with left:
        chosen = (st.session_state["cm_true"], st.session_state["cm_pred"])
        st.altair_chart(confusion_chart(cm, classes, selectable=True, chosen=chosen), width="content",
                        key=f"cm_chart_{split}", on_select=lambda: _pick_cell(split), selection_mode="cell")
        st.caption(f"{len(rows)} {SPLITS[split]} pictures, each predicted as its most probable class (argmax; "
                   "the Threshold section shows a two-class threshold). Click a cell to see its pictures.")
    with right:
        t = st.selectbox("True class", classes, key="cm_true")
        p = st.selectbox("Predicted class", classes, key="cm_pred")
        order = st.radio("Order", ["most confident first", "least confident first"], key="cm_order",
                         help="confidence = the probability of the predicted class")
        sc = scores_from_confusion(cm, classes)
        st.dataframe(pd.DataFrame(cm, index=pd.Index(classes, name="true \\ predicted"), columns=classes))
        st.caption(f"accuracy {pct(sc['accuracy'])} on these pictures")

    cell = rows[(rows["true_class"] == t) & (rows["predicted_class"] == p)].copy()
    cell["confidence"] = cell[f"p_{p}"]
    cell = cell.sort_values(["confidence", "path"], ascending=[order == "least confident first", True])
    kind = "correct" if t == p else "mistakes"
    st.subheader(f"True {t}, predicted {p} ({kind}): {len(cell)} pictures")
    if t != p and order == "most confident first":
        st.caption("Confident mistakes first.")
    gallery(run, cell, lambda rec: [f"P({p}) = {rec['confidence']:.3f}", prob_line(rec, classes)], key="cm")


def section_threshold(run: Run) -> None:
    classes = run.classes
    m = run.metrics
    st.header(f"Threshold: {run.id}")
    if len(classes) != 2:
        st.info(f"A decision threshold applies to two-class runs; this run has {len(classes)} classes "
                f"({', '.join(classes)}) and predicts the most probable one.")
        return
    default_pos = m.get("positive_class") if m.get("positive_class") in classes else classes[1]
    c1, c2 = st.columns(2)
    split = c1.radio("Pictures of", list(SPLITS), format_func=SPLITS.get, horizontal=True, key="thr_split")
    pos = c2.selectbox("Positive class", classes, index=classes.index(default_pos), key="thr_pos")
    positive = classes.index(pos)
    run_t = m.get("threshold")
    if is_num(run_t) and pos != default_pos:
        run_t = 1.0 - run_t  # the same decision, said about the other class
    run_t = float(run_t) if is_num(run_t) else 0.5
    # Starts exactly at the run's threshold (not rounded to the step): the page opens on the run's own decisions.
    t = st.slider(f"Threshold on P({pos})", 0.0, 1.0, value=run_t, step=0.001, format="%.3f", key=f"thr_value_{pos}",
                  help=f"a picture is called {pos} when P({pos}) ≥ threshold; the run's own threshold "
                       f"(chosen on the validation split) is {run_t:.3f}")
    rows = run.split_rows(split)
    if rows.empty:
        st.info(f"No {SPLITS[split]} pictures in this run.")
        return
    y, probs = labels_and_probs(rows, classes)

    def at(threshold):
        cm = confusion(y, predict_with_threshold(probs, positive, threshold), 2)
        return cm, scores_from_confusion(cm, classes)

    cm, sc = at(t)
    _, ref = at(run_t)
    mine, theirs = sc["per_class"][pos], ref["per_class"][pos]
    cols = st.columns(4)
    for col, (name, key) in zip(cols, [("Precision", "precision"), ("Recall", "recall"), ("F1", "f1")]):
        col.metric(f"{name} ({pos})", f"{mine[key]:.3f}", delta=f"{mine[key] - theirs[key]:+.3f}",
                   delta_description="vs the run's threshold")
    cols[3].metric("Accuracy", pct(sc["accuracy"]), delta=f"{(sc['accuracy'] - ref['accuracy']) * 100:+.1f} pts",
                   delta_description="vs the run's threshold")

    left, right = st.columns([2, 3])
    with left:
        st.altair_chart(confusion_chart(cm, classes), width="content")
        st.dataframe(pd.DataFrame(cm, index=pd.Index(classes, name="true \\ predicted"), columns=classes))
        st.caption(f"{len(rows)} {SPLITS[split]} pictures at P({pos}) ≥ {t:.3f}")
    with right:
        hist = pd.DataFrame({f"P({pos})": probs[:, positive], "true class": rows["true_class"].to_numpy()})
        bars = alt.Chart(hist).mark_bar(opacity=0.6).encode(
            x=alt.X(f"P({pos}):Q", bin=alt.Bin(extent=[0, 1], step=0.05), title=f"P({pos})"),
            y=alt.Y("count():Q", stack=None, title="pictures"),
            color=alt.Color("true class:N", sort=classes))
        rule = alt.Chart(pd.DataFrame({"t": [t]})).mark_rule(color="#e45756", strokeWidth=2).encode(x="t:Q")
        st.altair_chart((bars + rule).properties(title=f"P({pos}) by true class; red: the slider", height=260),
                        width="stretch")

    found = curves(y, probs, positive)
    if found is None:
        st.info(f"The {SPLITS[split]} pictures hold a single class: no ROC or precision-recall curve.")
        return
    roc, pr = pd.DataFrame(found["roc"]), pd.DataFrame(found["pr"])

    def point(name, threshold, s, matrix):
        tn, fp = matrix[1 - positive, 1 - positive], matrix[1 - positive, positive]
        return {"point": name, "threshold": threshold, "false positive rate": fp / (fp + tn) if fp + tn else 0.0,
                "true positive rate": s["per_class"][pos]["recall"], "recall": s["per_class"][pos]["recall"],
                "precision": s["per_class"][pos]["precision"]}

    here = pd.DataFrame([point("slider", t, sc, cm), point("run's threshold", run_t, ref, at(run_t)[0])])
    c1, c2 = st.columns(2)
    with c1:
        st.altair_chart(curve_chart(roc, "false positive rate", "true positive rate", here,
                                    f"ROC (AUC {found['roc_auc']:.3f})", diagonal=True), width="stretch")
    with c2:
        st.altair_chart(curve_chart(pr, "recall", "precision", here, f"Precision-recall ({pos})", diagonal=False),
                        width="stretch")


def compare_table(a: Run, b: Run, split: str = "test") -> pd.DataFrame:
    """Metric by metric: run A, run B and B − A."""
    def facts(run):
        r = report(run, split) or {}
        model = run.metrics.get("model") or {}
        sizes = model.get("bytes") or {}
        out = {"accuracy": r.get("accuracy"), "balanced accuracy": r.get("balanced_accuracy"),
               "macro F1": r.get("macro_f1"), "ROC AUC": r.get("roc_auc")}
        for c, s in (r.get("per_class") or {}).items():
            out[f"F1 {c}"] = s.get("f1")
        out["pictures"] = r.get("n")
        out["parameters"] = model.get("params")
        out["model.keras size"] = sizes.get("model.keras")
        out["TF.js size (served bundle)"] = sizes.get(model.get("served_tfjs", "tfjs"))
        out["training time"] = (run.metrics.get("timings") or {}).get("train_s")
        return out

    fa, fb = facts(a), facts(b)
    names = list(dict.fromkeys([*fa, *fb]))
    rows = []
    for k in names:
        va, vb = fa.get(k), fb.get(k)
        va, vb = (float(va) if is_num(va) else None), (float(vb) if is_num(vb) else None)
        rows.append({"metric": k, "A": va, "B": vb, "B − A": vb - va if va is not None and vb is not None else None})
    return pd.DataFrame(rows).set_index("metric")


def show_compare_table(a: Run, b: Run, key: str) -> None:
    table = compare_table(a, b)
    cols = st.columns(3)
    for col, name in zip(cols, ("accuracy", "balanced accuracy", "macro F1")):
        va, vb, d = table.loc[name, ["A", "B", "B − A"]]
        col.metric(f"{name} (test), B vs A", pct(vb) if "F1" not in name else num3(vb),
                   delta=(f"{d * 100:+.1f} pts" if "F1" not in name else f"{d:+.3f}") if pd.notna(d) else None,
                   help=f"A {a.id}: {pct(va) if 'F1' not in name else num3(va)}")
    st.dataframe(style_compare(table), height="content", key=f"{key}_table",
                 column_config={"_index": st.column_config.Column("metric", width="medium")})
    st.caption(f"A = `{a.id}` ({a.arch}), B = `{b.id}` ({b.arch}); scores on each run's test split.")


def style_compare(table: pd.DataFrame):
    """Row-wise number formats (shares as %, counts with separators, sizes in KB/MB; the B − A column
    signed); the data underneath stay numbers."""
    def fmt(metric, delta):
        sign = "+" if delta else ""
        if metric in ("pictures", "parameters"):
            return lambda v: f"{v:{sign},.0f}"
        if "size" in metric:
            return lambda v: ("+" if delta and v > 0 else "-" if v < 0 else "") + human_bytes(abs(v))
        if "time" in metric:
            return lambda v: f"{v:{sign},.1f} s"
        if metric in ("accuracy", "balanced accuracy"):
            return (lambda v: f"{v * 100:+.1f} pts") if delta else (lambda v: f"{v:.1%}")
        return lambda v: f"{v:{sign}.3f}"

    styler = table.style
    for metric in table.index:
        for column in table.columns:
            styler = styler.format(fmt(metric, column == "B − A"), subset=pd.IndexSlice[[metric], [column]],
                                   na_rep="–")
    return styler


def section_compare(usable: list[Run], selected: Run) -> None:
    st.header("Compare")
    ids = [r.id for r in usable]
    by_id = {r.id: r for r in usable}
    if len(usable) < 2:
        st.info("Only one run so far: train another (e.g. `python -m train --arch rendernet2017`) to compare two.")
    else:
        st.subheader("Two runs side by side")
        c1, c2 = st.columns(2)
        a = by_id[c1.selectbox("Run A", ids, index=ids.index(selected.id), key="cmp_a",
                               format_func=lambda i: by_id[i].label() + f" · {by_id[i].arch}")]
        others = [i for i in ids if i != a.id]
        b = by_id[c2.selectbox("Run B", ids, index=ids.index(others[0]), key="cmp_b",
                               format_func=lambda i: by_id[i].label() + f" · {by_id[i].arch}")]
        if a.id == b.id:
            st.info("Pick two different runs.")
        else:
            show_compare_table(a, b, "cmp")
            disagreements(a, b)
        section_arch_vs_default(usable)
    st.divider()
    section_tfjs(selected)


def disagreements(a: Run, b: Run) -> None:
    st.subheader("Pictures on which they disagree")
    if a.classes != b.classes:
        st.info(f"The runs have different classes ({a.classes} vs {b.classes}).")
        return
    classes = a.classes
    split = st.radio("Pictures of", list(SPLITS), format_func=SPLITS.get, horizontal=True, key="cmp_split")
    both = a.split_rows(split).merge(b.split_rows(split), on=["path", "split"], suffixes=("_a", "_b"))
    if both.empty:
        st.info("The two runs share no pictures in this split (different data or split).")
        return
    differ = both[both["predicted_class_a"] != both["predicted_class_b"]].copy()
    gap = np.abs(both[[f"p_{c}_a" for c in classes]].to_numpy() - both[[f"p_{c}_b" for c in classes]].to_numpy())
    both["gap"] = gap.max(axis=1)
    differ["gap"] = both.loc[differ.index, "gap"]
    right_a = int((differ["predicted_class_a"] == differ["true_class_a"]).sum())
    right_b = int((differ["predicted_class_b"] == differ["true_class_a"]).sum())
    st.markdown(f"**{len(differ)}** of {len(both)} shared {SPLITS[split]} pictures get different predictions "
                f"({1 - len(differ) / len(both):.1%} agreement); A is right on {right_a} of them, B on {right_b}.")
    differ = differ.sort_values(["gap", "path"], ascending=[False, True])

    def lines(rec):
        out = [f"true **{rec['true_class_a']}**"]
        for side in ("a", "b"):
            probs = " · ".join("%.2f" % float(rec[f"p_{c}_{side}"]) for c in classes)
            out.append(f"{side.upper()}: {rec['predicted_class_' + side]} ({probs})")
        return out

    gallery(a, differ, lines, key="cmp")


def section_arch_vs_default(usable: list[Run]) -> None:
    from train.config import TrainConfig

    default_arch = TrainConfig().arch
    newest = {}
    for r in usable:  # newest first
        newest.setdefault(r.arch, r)
    st.subheader(f"The 2017 architecture ({ORIGINAL_ARCH}) against the default ({default_arch})")
    if ORIGINAL_ARCH == default_arch or ORIGINAL_ARCH not in newest or default_arch not in newest:
        missing = [x for x in (ORIGINAL_ARCH, default_arch) if x not in newest]
        st.info("Needs a run of each architecture; none yet of " + ", ".join(missing)
                + f" (train one with `python -m train --arch {missing[0] if missing else ORIGINAL_ARCH}`).")
        return
    a, b = newest[ORIGINAL_ARCH], newest[default_arch]
    st.caption(f"A = newest {ORIGINAL_ARCH} run `{a.id}`, B = newest {default_arch} run `{b.id}`. "
               "Only meaningful when both saw the same data.")
    show_compare_table(a, b, "arch")


def tfjs_folders(run: Run) -> list[str]:
    """Every TF.js bundle of the run (tfjs/, and tfjs-float16/, tfjs-uint8/ ... when quantized)."""
    return sorted(d.name for d in run.dir.glob("tfjs*") if d.is_dir())


def tfjs_problem() -> str | None:
    """None when the TF.js bundles can be run (in Node.js) here, else why not."""
    try:
        from train import tfjs_node

        return tfjs_node.missing()
    except Exception as e:
        return f"`train.tfjs_node` cannot be used ({type(e).__name__}: {e})"


@st.cache_data(show_spinner="Running model.keras and the TF.js bundles (in Node.js) on the test pictures ...",
               max_entries=8)
def tfjs_agreement(run_id: str, run_dir: str, _stamp: str, folders: tuple[str, ...]) -> dict:
    """model.keras now (train.predict) against each TF.js bundle in real TF.js (train.export.check_bundles)
    on the run's test pictures that can still be read."""
    from train.export import check_bundles
    from train.predict import predict_files

    spec, model = cached_model(run_dir, _stamp)
    classes = list(spec.class_names)
    preds = cached_predictions(run_dir, _stamp, tuple(cached_metrics(run_dir, _stamp)["class_names"]))
    split = "test" if (preds["split"] == "test").any() else "val"
    chosen = preds[preds["split"] == split].sort_values("path").head(TFJS_MAX_PICTURES)
    keras_probs, errors = predict_files(model, spec, chosen["path"].tolist())
    keep = [i for i, e in enumerate(errors) if e is None]
    paths = [chosen["path"].iloc[i] for i in keep]
    labels = chosen["true_class"].map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=int)[keep]
    out = {"split": split, "pictures": len(keep), "unreadable": len(chosen) - len(keep), "rows": {}}
    for folder in folders if keep else ():
        try:  # one bundle at a time: a broken bundle does not hide the others
            out["rows"][folder] = check_bundles(Path(run_dir), [folder], spec, paths, labels, keras_probs[keep],
                                                limit=TFJS_MAX_PICTURES)[folder]
        except Exception as e:
            out["rows"][folder] = {"error": f"{type(e).__name__}: {e}".splitlines()[0][:300]}
    return out


def bundle_table(rows: dict) -> pd.DataFrame:
    table = pd.DataFrame([{"bundle": f"{name}/", "pictures": r.get("pictures"),
                           "agreement with Keras": r.get("agreement_with_keras"),
                           "largest |ΔP|": r.get("max_abs_diff"), "accuracy (TF.js)": r.get("accuracy"),
                           "accuracy (Keras)": r.get("keras_accuracy"), "problem": r.get("error")}
                          for name, r in rows.items() if isinstance(r, dict)]).set_index("bundle")
    return table.drop(columns="problem") if table["problem"].isna().all() else table


BUNDLE_COLUMNS = {"agreement with Keras": st.column_config.NumberColumn(format="percent"),
                  "accuracy (TF.js)": st.column_config.NumberColumn(format="percent"),
                  "accuracy (Keras)": st.column_config.NumberColumn(format="percent"),
                  "largest |ΔP|": st.column_config.NumberColumn(format="%.2e")}


def section_tfjs(run: Run) -> None:
    st.subheader(f"Keras against the TF.js bundles: {run.id}")
    st.caption("The static page runs a TF.js bundle in the visitor's browser; it should answer like model.keras. "
               "Quantized bundles (float16, uint8 weights) trade a little accuracy for size.")
    m = run.metrics
    folders = tfjs_folders(run)
    served = (m.get("model") or {}).get("served_tfjs", "tfjs")
    check = m.get("tfjs_check") if isinstance(m.get("tfjs_check"), dict) else {}
    keras_bytes = folder_bytes(run.dir / "model.keras")
    files = [("model.keras", keras_bytes, None)] + [(f"{f}/", folder_bytes(run.dir / f), f) for f in folders]
    sizes = pd.DataFrame([{"file": name, "bytes": n, "size": human_bytes(n),
                           "vs Keras": n / keras_bytes if keras_bytes else None,
                           "served by the page": folder == served,
                           "accuracy at training (TF.js)": (check.get(folder) or {}).get("accuracy")
                           if folder and isinstance(check.get(folder), dict) else None}
                          for name, n, folder in files]).set_index("file")
    if sizes["accuracy at training (TF.js)"].isna().all():
        sizes = sizes.drop(columns="accuracy at training (TF.js)")
    st.dataframe(sizes, column_config={"vs Keras": st.column_config.NumberColumn(format="%.2f×"),
                                       "accuracy at training (TF.js)": st.column_config.NumberColumn(format="percent")})

    problem = tfjs_problem()
    if problem:
        st.info(f"Keras vs TF.js agreement not computed: {problem}. The file sizes above are still right.")
        measured = {k: v for k, v in check.items() if isinstance(v, dict)}
        if measured:
            st.dataframe(bundle_table(measured), column_config=BUNDLE_COLUMNS)
            st.caption("Measured when the run was trained (metrics.json `tfjs_check`).")
        elif "skipped" in check:
            st.caption(f"At training time the check was skipped too: {check['skipped']}")
        return
    try:
        result = tfjs_agreement(run.id, str(run.dir), run.stamp,
                                tuple(f for f in folders if (run.dir / f / "model.json").is_file()))
    except runs.RunError as e:
        st.error(f"Cannot load this run's Keras model: {e}")
        return
    if not result["pictures"]:
        st.info(f"None of the {result['unreadable']} {SPLITS[result['split']]} pictures can be read now: "
                "no agreement to measure.")
        return
    st.dataframe(bundle_table(result["rows"]), column_config=BUNDLE_COLUMNS, key="tfjs_table")
    st.caption(f"Measured now: {result['pictures']} {SPLITS[result['split']]} pictures, the same crops fed to "
               "model.keras and to each bundle in real TF.js (Node.js, WASM backend); agreement = same predicted "
               "class" + (f"; {result['unreadable']} pictures unreadable now" if result["unreadable"] else ""))


def section_try(run: Run) -> None:
    classes = run.classes
    st.header("Try it")
    st.caption(f"Server-side Keras, run `{run.id}`" + (" (the current model)" if run.current else ""))
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
                        st.warning(f"{f.name}: {TOO_SMALL}. " + error.split(f"{TOO_SMALL}: ", 1)[-1])
                    else:
                        st.error(error.replace(str(path), f.name))
                    continue
                rgb = load_rgb(path)
                c1, c2, c3 = st.columns([2, 1, 2])
                c1.image(rgb, caption=f"{f.name} ({rgb.shape[1]}×{rgb.shape[0]})", width=min(rgb.shape[1], 320))
                c2.image(display_square(model_eye_square(rgb, spec)), caption=eye_caption(run), width="stretch")
                best = int(np.argmax(p))
                with c3:
                    st.metric("Verdict", decide(p, spec),
                              help="the most probable class, or \"unsure\" when its probability is below the "
                                   "run's unsure level (the same rule as train.predict and the page)")
                    st.caption(f"P({classes[best]}) = {p[best]:.3f}" + (
                        f"; unsure below {spec.unsure_below:.3f}" if spec.unsure_below is not None else ""))
                    bars = pd.DataFrame({"class": classes, "probability": p.astype(float)})
                    st.altair_chart(alt.Chart(bars).mark_bar().encode(
                        x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1])), y=alt.Y("class:N", sort=classes),
                        tooltip=["class:N", alt.Tooltip("probability:Q", format=".3f")]).properties(height=alt.Step(26)),
                        width="stretch")


# ---------------------------------------------------------------- the page


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
        section = st.radio("Section", SECTIONS, key="section")
        default = ids.index(current) if current in by_id else 0
        run = by_id[st.selectbox("Run", ids, index=default, key="run",
                                 format_func=lambda i: by_id[i].label() + f" · {by_id[i].arch}")]
        st.caption(f"{len(usable)} runs in `{models.resolve()}`"
                   + (f"; {len(broken)} skipped" if broken else ""))
    show_broken(broken, current)
    if section == "Overview":
        section_overview(run)
    elif section == "Confusion & examples":
        section_confusion(run)
    elif section == "Threshold":
        section_threshold(run)
    elif section == "Compare":
        section_compare(usable, run)
    else:
        section_try(run)


main()
