"""Rerunning `python -m train` after new data arrives: no trained model is lost, none is replaced
silently. Each test is one of the cases of the README's "Rerunning after new data" section."""
from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from tests.test_preprocess import png_header_only
from train import runs
from train.pipeline import main

FAST = ["--arch", "tracenet", "--epochs", "1", "--image-size", "32", "--grid", "1", "--batch-size", "16"]


def write_predictions(run_dir, rows):
    with open(run_dir / "predictions.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "split", "true_class", "verdict", "predicted_class", "p_photo", "p_render"])
        for path, true, pred in rows:
            w.writerow([path, "test", true, pred, pred, 0.5, 0.5])


def fake_run(models, run_id, rows, synthetic=False):
    """A complete run folder with the given (path, true, predicted) answers."""
    src = models / "runs" / "tiny-tracenet"
    dst = models / "runs" / run_id
    shutil.copytree(src, dst)
    write_predictions(dst, rows)
    m = json.loads((dst / "metrics.json").read_text())
    m["run_id"], m["data"]["synthetic"] = run_id, synthetic
    (dst / "metrics.json").write_text(json.dumps(m))
    return dst


def answers(n, wrong):
    """n pictures, half of each class; the first `wrong` of them answered wrongly."""
    out = []
    for i in range(n):
        true = "photo" if i % 2 else "render"
        pred = ("render" if true == "photo" else "photo") if i < wrong else true
        out.append((f"/pics/{i}.jpg", true, pred))
    return out


def test_quality_gate_keeps_a_worse_run_as_candidate(fake_models):
    runs.promote(fake_models, fake_run(fake_models, "good", answers(40, 2)).name, None)
    worse = fake_run(fake_models, "worse", answers(40, 8))
    ok, why = runs.gate(fake_models, worse)
    assert not ok and "balanced accuracy" in why and "40" in why
    same = fake_run(fake_models, "as-good", answers(40, 2))
    assert runs.gate(fake_models, same)[0]  # at least as good (within the tolerance): promoted
    other = fake_run(fake_models, "other-data", [(f"/elsewhere/{i}.jpg", t, p) for i, t, p in
                                                 [(j, *a[1:]) for j, a in enumerate(answers(40, 20))]])
    ok, why = runs.gate(fake_models, other)
    assert ok and "nothing fair to compare" in why
    demo = fake_run(fake_models, "demo", answers(40, 0), synthetic=True)
    ok, why = runs.gate(fake_models, demo)
    assert not ok and "demo" in why


def test_a_worse_run_does_not_replace_the_page_model(tmp_path, models_copy, tiny_data, capsys, monkeypatch):
    import train.runs as runs_module

    site = tmp_path / "site"
    monkeypatch.setattr(runs_module, "gate", lambda models, run: (False, "worse on the common pictures"))
    before = (models_copy / "current").resolve()
    assert main(["--data", str(tiny_data), "--models", str(models_copy), "--static-site", str(site),
                 "--run-id", "new"] + FAST) == 0
    out = capsys.readouterr().out
    assert "new kept as a candidate" in out and "python -m train.runs promote new" in out
    assert (models_copy / "current").resolve() == before and not (site / "model").exists()
    assert runs.state_of(models_copy, models_copy / "runs" / "new") == "candidate"
    # --force promotes anyway, and the page's model follows.
    assert main(["--data", str(tiny_data), "--models", str(models_copy), "--static-site", str(site),
                 "--run-id", "forced", "--force"] + FAST) == 0
    assert runs.current_run_id(models_copy) == "forced"
    assert json.loads((site / "model" / "metrics.json").read_text())["run_id"] == "forced"


def test_missing_data_is_an_error_once_a_real_run_exists(tmp_path, models_copy, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no data/ here
    before = sorted(p.name for p in (models_copy / "runs").iterdir())
    assert main(["--models", str(models_copy)] + FAST) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: data: data folder not found") and "--demo" in err[0]
    assert sorted(p.name for p in (models_copy / "runs").iterdir()) == before


def test_demo_when_asked_never_replaces_a_real_run(tmp_path, models_copy, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    current = runs.current_run_id(models_copy)
    assert main(["--models", str(models_copy), "--demo", "--demo-per-class", "30", "--run-id", "demo"] + FAST) == 0
    assert "demo kept as a candidate" in capsys.readouterr().out
    assert runs.current_run_id(models_copy) == current and runs.is_demo(models_copy / "runs" / "demo")


@pytest.mark.slow
def test_runs_elsewhere_never_touch_the_page(tmp_path, tiny_data, monkeypatch):
    """`--models` elsewhere: static_site/model is not refreshed unless asked."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "static_site").mkdir()
    assert main(["--data", str(tiny_data), "--models", str(tmp_path / "elsewhere"), "--run-id", "x"] + FAST) == 0
    assert not (tmp_path / "static_site" / "model").exists()
    assert runs.current_run_id(tmp_path / "elsewhere") == "x"
    assert runs.site_for(runs.DEFAULT_MODELS, None) == runs.DEFAULT_SITE  # the default pair does follow


def test_failed_export_is_finished_by_train_export(tmp_path, models_copy, tiny_data, monkeypatch, capsys):
    import train.export
    from train.export import main as export_main

    real = train.export.export_tfjs
    monkeypatch.setattr(train.export, "export_tfjs", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    current = runs.current_run_id(models_copy)
    assert main(["--data", str(tiny_data), "--models", str(models_copy), "--static-site", "", "--run-id", "half",
                 "--force"] + FAST) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: run half failed during export: OSError: disk full")
    assert "python -m train.export half" in err[-1] and "Traceback" not in "\n".join(err)
    failed = models_copy / "runs" / "half"
    assert "Traceback" in (failed / "error.log").read_text() and (failed / "model.keras").is_file()
    assert runs.current_run_id(models_copy) == current
    with pytest.raises(runs.RunError, match="failed during export"):
        runs.resolve(models_copy, "half")
    monkeypatch.setattr(train.export, "export_tfjs", real)
    assert export_main(["half", "--models", str(models_copy), "--static-site", "", "--force"]) == 0
    assert runs.incomplete(failed) is None and runs.current_run_id(models_copy) == "half"
    assert json.loads((failed / "metrics.json").read_text())["model"]["served_tfjs"] == "tfjs-float16"


@pytest.mark.slow
def test_interrupted_training_resumes_from_its_last_epoch(tmp_path, tiny_data, monkeypatch, capsys):
    import keras

    from train import model as model_lib

    models = tmp_path / "models"
    calls = {"n": 0}
    original = model_lib.EpochCheckpoint.on_epoch_end

    def stop_after_second(self, epoch, logs=None):
        original(self, epoch, logs)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(model_lib.EpochCheckpoint, "on_epoch_end", stop_after_second)
    argv = ["--data", str(tiny_data), "--models", str(models), "--static-site", "", "--arch", "tracenet",
            "--epochs", "4", "--patience", "9", "--image-size", "32", "--grid", "1", "--run-id", "long"]
    assert main(argv) == 130
    run = models / "runs" / "long"
    assert json.loads((run / "failed.json").read_text())["stage"] == "training"
    assert json.loads((run / "checkpoint.json").read_text()) == {"epochs_done": 2}
    saved = keras.models.clone_model(model_lib.build("tracenet", 32, 2))
    saved.load_weights(run / "checkpoint.weights.h5")  # the weights are there, loadable
    monkeypatch.setattr(model_lib.EpochCheckpoint, "on_epoch_end", original)
    capsys.readouterr()
    assert main(["--resume", "long", "--models", str(models)]) == 0
    out = capsys.readouterr().out
    assert "resumed from the weights after epoch 2" in out
    m = json.loads((run / "metrics.json").read_text())
    assert runs.incomplete(run) is None and m["epochs_run"] == 2  # epochs 3 and 4 only
    assert m["command"].endswith("--run-id long") and runs.current_run_id(models) == "long"
    assert main(["--resume", "long", "--models", str(models)]) == 2  # a complete run is not resumed
    assert "not a failed run" in capsys.readouterr().err


@pytest.mark.slow
def test_lite0_starts_from_the_features_of_an_earlier_run(tmp_path, tiny_data):
    from train import data as data_lib

    data, models = tmp_path / "data", tmp_path / "models"
    shutil.copytree(tiny_data, data)
    argv = ["--data", str(data), "--models", str(models), "--static-site", "", "--seed", "2", "--force"]
    assert main(argv + ["--run-id", "scratch"]) == 0
    for i in range(6):  # new pictures arrive
        Image.fromarray(np.full((200, 300, 3), 40 * i, np.uint8)).save(data / "photo" / f"new_{i}.png")
    assert main(argv + ["--run-id", "warm", "--init-from", "current"]) == 0
    warm = json.loads((models / "runs" / "warm" / "metrics.json").read_text())
    _, items, _ = data_lib.discover(data, (0.8, 0.1, 0.1))
    fitted = [it for it in items if it.split in ("train", "val")]
    new = [it for it in fitted if "new_" in it.path]
    assert warm["training"]["features_reused"] == len(fitted) - len(new)


@pytest.mark.slow
def test_an_absurd_picture_is_skipped_not_fatal(tmp_path, tiny_data):
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    png_header_only(data / "render" / "huge.png", 60000, 60000)
    models = tmp_path / "models"
    assert main(["--data", str(data), "--models", str(models), "--static-site", "", "--run-id", "r"] + FAST) == 0
    m = json.loads((models / "runs" / "r" / "metrics.json").read_text())
    skipped = {s["path"]: s["error"] for s in m["data"]["skipped"]}
    assert "decompression bomb" in skipped[str(data / "render" / "huge.png")]


def test_runs_command_lists_shows_promotes_rolls_back_and_prunes(fake_models, capsys):
    from train.runs import main as runs_main

    assert runs_main(["--models", str(fake_models), "list"]) == 0
    listed = capsys.readouterr().out
    assert "tiny-tracenet" in listed and "current" in listed and "candidate" in listed
    assert runs_main(["--models", str(fake_models), "--static-site", "", "promote", "tiny-rendernet2017"]) == 0
    assert runs.current_run_id(fake_models) == "tiny-rendernet2017"
    assert runs_main(["--models", str(fake_models), "show", "tiny-tracenet"]) == 0
    assert "candidate" in capsys.readouterr().out
    assert runs_main(["--models", str(fake_models), "show", "current"]) == 0  # the word --init-from takes
    assert capsys.readouterr().out.startswith("tiny-rendernet2017: current")
    assert runs_main(["--models", str(fake_models), "--static-site", "", "rollback"]) == 0
    assert runs.current_run_id(fake_models) == "tiny-tracenet"
    failed = fake_models / "runs" / "old-failure"
    failed.mkdir()
    (failed / "failed.json").write_text(json.dumps({"stage": "training", "reason": "interrupted (Ctrl-C)"}))
    assert runs_main(["--models", str(fake_models), "show", "old-failure"]) == 0
    assert "python -m train --resume old-failure" in capsys.readouterr().out
    assert runs_main(["--models", str(fake_models), "prune", "--keep", "0"]) == 0
    left = sorted(p.name for p in (fake_models / "runs").iterdir())
    assert left == ["tiny-tracenet"]  # the current run always stays
    assert runs_main(["--models", str(fake_models), "promote", "nope"]) == 2


def test_runs_from_before_the_split_names_are_read_alike(tmp_path):
    """metrics.json reports are keyed by split name ("val", "test"); a run written when the key was
    "validation" reads the same, so the gate and the app still compare it. --out still means --models."""
    from train.config import parse_args

    (tmp_path / "metrics.json").write_text(json.dumps({"validation": {"n": 3}, "test": {"n": 2}}))
    assert runs.load_metrics(tmp_path) == {"val": {"n": 3}, "test": {"n": 2}}
    assert parse_args(["--out", str(tmp_path)]).models == tmp_path
