"""Run folders written without TensorFlow, for the registry's and the app's tests: the files `python -m
train` leaves, made by its own writers (report.write_predictions, report.metrics_of, evaluate.evaluate,
preprocess.save_spec) from answers given here, with stand-ins for model.keras and the TF.js bundle (bytes
nothing here loads). A test that needs a model to run uses the trained session fixtures instead."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from train import files, runs
from train.config import config_from_argv, make_spec
from train.data import discover
from train.evaluate import evaluate
from train.preprocess import SPEC_FILE, save_spec
from train.report import metrics_of, write_predictions

NOT_A_MODEL = b"a stand-in written by tests/run_folders.py; no model is loaded from it\n"


def write_run(models: Path, run_id: str, data: Path, argv=(), created: str = "2026-01-01T00:00:00+00:00",
              synthetic: bool = False, seed: int = 0, skill: float = 0.8) -> Path:
    """A complete run `run_id` in models/runs/ as if `python -m train --data DATA ARGV` had trained it: the
    data's val and test pictures answered with probabilities drawn at random (right about `skill` of the
    time, seeded), scored and reported as training reports them. -> the run folder."""
    config = config_from_argv(["--data", str(data), *argv])
    class_names, items, skipped = discover(data, config.fractions, config.group_pattern)
    spec, positive = make_spec(config, class_names)
    rng = np.random.default_rng(seed)
    scored, reports = {}, {}
    for split in ("val", "test"):
        its = [it for it in items if it.split == split]
        probs = rng.dirichlet(np.ones(len(class_names)), size=len(its))
        for row, it in zip(probs, its):  # the true class made the most likely `skill` of the time
            if rng.random() < skill:
                top = int(row.argmax())
                row[[top, it.label]] = row[[it.label, top]]
        probs = np.round(probs, 6)  # as predictions.csv holds them: the reports agree with the file exactly
        scored[split] = (its, probs)
        reports[split] = (evaluate([it.label for it in its], probs, class_names, positive, spec.threshold,
                                   spec.unsure_below) if its else None)
    folder = Path(models) / "runs" / run_id
    folder.mkdir(parents=True)
    write_predictions(folder / "predictions.csv", scored, spec)
    save_spec(spec, folder / SPEC_FILE)
    (folder / "model.keras").write_bytes(NOT_A_MODEL)
    (folder / "tfjs").mkdir()
    (folder / "tfjs" / "model.json").write_text(json.dumps({"format": "graph-model", "weightsManifest": []}))
    args = SimpleNamespace(config=config, argv=["--data", str(data), *argv], data=data, models=models)
    history = {"loss": [0.7, 0.5], "accuracy": [0.6, 0.8], "val_loss": [0.6, 0.55], "val_accuracy": [0.7, 0.75]}
    fit_stats = {"seconds": 12.5, "images_per_s": 40.0, "views_per_s": 160.0, "best_epoch": 2, "class_weights": None,
                 "unsure": {"target": 0.97, "pictures": 0, "unsure_below": None, "coverage": None,
                            "accuracy_when_sure": None}}
    m = metrics_of(run_id, args, spec, data, synthetic, items, skipped, reports, history, fit_stats,
                   params=123_456, keras_bytes=len(NOT_A_MODEL),
                   timings={"demo_data_s": 0.0, "scan_s": 0.1, "eval_s": 0.5, "export_s": 1.0, "total_s": 15.0})
    m["created"] = created
    m["model"].update(served_tfjs="tfjs", quantize="float32")
    m["model"]["bytes"]["tfjs"] = files.folder_bytes(folder / "tfjs")
    files.write_json(folder / "metrics.json", m)
    assert runs.incomplete(folder) is None
    return folder


def write_models(models: Path, data: Path) -> Path:
    """A models/ folder shaped like the trained session fixture `tiny_models`: runs/tiny-rendernet2017 and
    runs/tiny-tracenet (the current one, trained later), on the pictures of `data`."""
    write_run(models, "tiny-rendernet2017", data, ["--arch", "rendernet2017", "--image-size", "64"],
              created="2026-01-01T00:00:00+00:00", seed=1)
    write_run(models, "tiny-tracenet", data, ["--arch", "tracenet", "--image-size", "32", "--grid", "2"],
              created="2026-01-01T00:10:00+00:00", seed=2)
    runs.promote(models, "tiny-rendernet2017", None, why="tests/run_folders.py")
    runs.promote(models, "tiny-tracenet", None, why="tests/run_folders.py")
    return models



def write_tiny_model(run_dir: Path, num_classes: int = 2) -> Path:
    """Replace a run's stand-in model.keras by a real, untrained Keras model (mean colour -> softmax) that
    takes pictures of any size: for tests of train.predict that need answers, not good ones, without
    training. -> the run folder."""
    import keras

    model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Rescaling(1 / 255),
                              keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(num_classes, activation="softmax")])
    model.save(Path(run_dir) / "model.keras")
    return Path(run_dir)
