"""Run folders: `models/runs/<run-id>/`, and `models/current`, a symlink switched atomically.

A run is written under `models/runs/.partial-<run-id>/` and renamed into place only when every artifact
is there; only then does `current` move. A crash or Ctrl-C leaves at most a `.partial-*` folder, which
nothing reads, and the previous current run untouched.
"""
from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

from .preprocess import SPEC_FILE, Spec, load_spec

REQUIRED_FILES = ("model.keras", "metrics.json", "predictions.csv", SPEC_FILE, "tfjs/model.json")


def finite(obj):
    """obj with every NaN or infinite float replaced by None: the JSON a browser can parse."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def write_json(path: Path, obj) -> None:
    Path(path).write_text(json.dumps(finite(obj), indent=2, allow_nan=False) + "\n")


class RunError(Exception):
    """A run that cannot be used; the message names the folder and what is wrong."""


def staging_dir(models_dir: Path, run_id: str) -> Path:
    path = Path(models_dir) / "runs" / f".partial-{run_id}"
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def publish(staging: Path, models_dir: Path, run_id: str) -> Path:
    """Move a complete run into place and point `current` at it (rename + symlink replace)."""
    problem = incomplete(staging)
    if problem:
        raise RunError(f"{staging}: refusing to publish an incomplete run ({problem})")
    final = Path(models_dir) / "runs" / run_id
    staging.rename(final)
    link_tmp = Path(models_dir) / ".current.tmp"
    if link_tmp.is_symlink() or link_tmp.exists():
        link_tmp.unlink()
    link_tmp.symlink_to(Path("runs") / run_id)
    os.replace(link_tmp, Path(models_dir) / "current")
    return final


def incomplete(run_dir: Path) -> str | None:
    """None for a complete, readable run; otherwise what is wrong with it, in a few words."""
    run_dir = Path(run_dir)
    missing = [f for f in REQUIRED_FILES if not (run_dir / f).is_file()]
    if missing:
        return "missing " + ", ".join(missing)
    try:
        json.loads((run_dir / "metrics.json").read_text())
        load_spec(run_dir / SPEC_FILE)
    except (ValueError, OSError, KeyError, TypeError) as e:
        return f"unreadable report ({e})"
    return None


def resolve(models_dir: Path, run: str | None = None) -> Path:
    """A run id, a run folder, or None for the current run -> its folder (checked complete)."""
    models_dir = Path(models_dir)
    if run is None:
        path = models_dir / "current"
        if not path.exists():
            raise RunError(f"{path}: no current run yet; train one with `python -m train`")
    else:
        path = Path(run) if Path(run).is_dir() else models_dir / "runs" / run
        if not path.is_dir():
            raise RunError(f"{run}: no such run folder (looked in {models_dir / 'runs'})")
    problem = incomplete(path)
    if problem:
        raise RunError(f"{path}: incomplete or corrupt run ({problem})")
    return path.resolve()


def list_runs(models_dir: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """-> (complete runs, newest first; [(folder, problem)] for the broken ones). Partial runs of a
    training still in progress (or crashed) are not listed at all."""
    root = Path(models_dir) / "runs"
    good, bad = [], []
    if root.is_dir():
        for path in sorted(root.iterdir(), reverse=True):
            if not path.is_dir() or path.name.startswith("."):
                continue
            problem = incomplete(path)
            (bad.append((path, problem)) if problem else good.append(path))
    return good, bad


def current_run_id(models_dir: Path) -> str | None:
    link = Path(models_dir) / "current"
    return link.resolve().name if link.exists() else None


def load_metrics(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "metrics.json").read_text())


def load_run_model(run_dir: Path) -> tuple[Spec, object]:
    import keras

    from . import model as _layers  # noqa: F401  registers the custom layers model.keras files use

    try:
        spec = load_spec(Path(run_dir) / SPEC_FILE)
    except ValueError as e:
        raise RunError(str(e)) from None
    try:
        model = keras.saving.load_model(Path(run_dir) / "model.keras", compile=False)
    except Exception as e:  # Keras raises many types for a damaged archive
        raise RunError(f"{Path(run_dir) / 'model.keras'}: cannot load model ({type(e).__name__}: {e})".splitlines()[0])
    return spec, model
