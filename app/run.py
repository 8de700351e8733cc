"""The run object and its cached loading: every complete run of the models folder (train.runs) with its
metrics.json and predictions.csv, read once per change of its files (bounded caches)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from train import runs
from train.csvfile import CSV_ERRORS
from train.preprocess import IMAGE_EXTENSIONS, SPEC_FILE, load_spec

from app.options import data_dirs

SPLITS = {"test": "test", "val": "validation"}  # split name (predictions.csv, metrics.json) -> the word shown
# What every page says of a run trained on the synthetic demo data (train/demo_data.py).
DEMO_NOTE = ("Demo run: trained on the SYNTHETIC demo data set, so its scores and verdicts say nothing "
             "about real pictures.")


def within(path: str, folders: list[str]) -> bool:
    """Whether the real path `path` is one of `folders` (real paths) or inside one."""
    return any(os.path.commonpath([folder, path]) == folder for folder in folders)

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
# and its files' stamp, so a changed or vanished run is read again or skipped (`files_stamp`, never `_stamp`:
# Streamlit leaves parameters starting with _ out of the key).
@st.cache_data(show_spinner=False, max_entries=64)
def cached_metrics(run_dir: str, files_stamp: str) -> dict:
    m = runs.load_metrics(Path(run_dir))
    names = m.get("class_names") if isinstance(m, dict) else None
    if not (isinstance(names, list) and len(names) >= 2 and all(isinstance(c, str) for c in names)):
        raise ValueError("metrics.json has no usable class_names")
    return m

@st.cache_data(show_spinner=False, max_entries=16)
def cached_predictions(run_dir: str, files_stamp: str, class_names: tuple[str, ...]) -> pd.DataFrame:
    # Opened as train.csvfile says (pandas cannot take its text handle: it re-encodes strictly), and the
    # paths kept as Python objects: pandas' Arrow strings refuse the bytes of a name that is not UTF-8.
    df = pd.read_csv(Path(run_dir) / "predictions.csv", encoding="utf-8", encoding_errors=CSV_ERRORS,
                     dtype={"path": object, "split": str, "true_class": str, "predicted_class": str})
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
def cached_spec(run_dir: str, files_stamp: str):
    return load_spec(Path(run_dir) / SPEC_FILE)

@st.cache_resource(show_spinner="Loading the Keras model ...", max_entries=2)
def cached_model(run_dir: str, files_stamp: str):
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
        """A picture path from predictions.csv is shown only if it is a picture file really inside (symlinks
        resolved) the run's data folder, and that folder is inside one of the app's own data folders
        (options.data_dirs): a hand-edited CSV ("../../etc/passwd", a link in the data to a file elsewhere)
        or metrics.json (`data.root` set to "/") reaches nothing else."""
        root = (self.metrics.get("data") or {}).get("root")
        if not isinstance(root, str) or not root or Path(path).suffix.lower() not in IMAGE_EXTENSIONS:
            return False
        root = os.path.realpath(root)
        return within(root, data_dirs()) and within(os.path.realpath(path), [root])

    def label(self) -> str:
        """The run and its state: current, or candidate (complete, not current); "demo" first when trained
        on the synthetic demo data, where a narrow picker cannot cut it off. (Failed runs are listed apart,
        as skipped folders.)"""
        state = "current" if self.current else "candidate"
        return f"{'demo · ' if self.demo else ''}{self.id} ({state})"

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

def report(run: Run, split: str) -> dict | None:
    """metrics.json's report for a predictions.csv split name ('test', 'val')."""
    r = run.metrics.get(split)
    return r if isinstance(r, dict) else None

def labels_and_probs(rows: pd.DataFrame, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    y = rows["true_class"].map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=int)
    return y, rows[[f"p_{c}" for c in classes]].to_numpy(dtype=float)
