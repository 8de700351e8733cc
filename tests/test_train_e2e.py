"""End to end: the artifacts of a tiny `python -m train` run, their consistency, crash safety, and
`python -m train.predict`."""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from train import runs
from train.pipeline import main
from train.predict import main as predict_main
from train.preprocess import load_spec

ROOT = Path(__file__).resolve().parents[1]


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("run_id", ["tiny-tracenet", "tiny-rendernet2017"])
def test_every_artifact_exists_and_agrees(tiny_models, run_id):
    run = tiny_models / "runs" / run_id
    assert runs.incomplete(run) is None
    m = json.loads((run / "metrics.json").read_text())
    spec = load_spec(run / "preprocessing.json")
    assert list(spec.class_names) == m["class_names"] == ["photo", "render"]
    assert spec.view == ("crops" if run_id == "tiny-tracenet" else "whole")
    assert m["arch"] == run_id.removeprefix("tiny-")
    assert m["data"]["synthetic"] is False  # trained on a given folder, not the built-in demo
    # predictions.csv holds every val and test picture, and reproduces metrics.json's numbers.
    table = rows(run / "predictions.csv")
    for split, key in (("val", "val"), ("test", "test")):
        chosen = [r for r in table if r["split"] == split]
        assert len(chosen) == sum(m["data"]["counts"][split].values()) == m[key]["n"]
        cm = np.zeros((2, 2), int)
        for r in chosen:
            probs = [float(r[f"p_{c}"]) for c in spec.class_names]
            assert abs(sum(probs) - 1) < 1e-4
            assert r["predicted_class"] == spec.class_names[int(np.argmax(probs))]
            cm[spec.class_names.index(r["true_class"]), spec.class_names.index(r["predicted_class"])] += 1
        assert cm.tolist() == m[key]["confusion_matrix"]
        assert m[key]["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    for k in ("roc_auc", "per_class", "at_threshold", "by_source"):
        assert k in m["test"]
    assert sum(v["n"] for v in m["test"]["by_source"].values()) == m["test"]["n"]
    assert 0 <= m["threshold"] <= 1 and spec.threshold == m["threshold"]
    assert len(m["history"]["loss"]) == m["epochs_run"] <= 2 and "val_loss" in m["history"]
    assert m["training"]["epochs"] == 2 and m["training"]["steps_per_epoch"] >= 1
    assert m["model"]["params"] > 1000
    assert m["model"]["bytes"]["model.keras"] == (run / "model.keras").stat().st_size
    assert m["model"]["bytes"]["tfjs"] > 0 and (run / "tfjs" / "model.json").is_file()
    assert m["timings"]["train_images_per_s"] > 0
    assert m["versions"]["tensorflow"] and m["command"].startswith("python -m train")


def test_current_and_static_site_point_at_latest_run(tiny_models, tiny_site_model):
    assert runs.current_run_id(tiny_models) == "tiny-tracenet"
    for name in ("model.json", "preprocessing.json", "metrics.json"):
        assert (tiny_site_model / name).is_file()
    assert json.loads((tiny_site_model / "metrics.json").read_text())["run_id"] == "tiny-tracenet"


@pytest.mark.slow
def test_bad_files_in_data_are_skipped_counted_and_run_completes(tmp_path, tiny_data):
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    good = next((data / "render").glob("*.jpg"))
    (data / "render" / "truncated.jpg").write_bytes(good.read_bytes()[:300])
    (data / "photo" / "readme.txt").write_text("notes")
    (data / "photo" / "fake.png").write_text("not a png")
    models = tmp_path / "models"
    assert main(["--data", str(data), "--models", str(models), "--static-site", "", "--epochs", "1",
                 "--image-size", "32", "--grid", "1", "--split", "34/33/33", "--run-id", "skips"]) == 0
    m = json.loads((models / "runs" / "skips" / "metrics.json").read_text())
    skipped = {s["path"]: s["error"] for s in m["data"]["skipped"]}
    assert {str(data / "photo" / "readme.txt"), str(data / "photo" / "fake.png")} <= set(skipped)
    # The truncated file passes the header check; it is skipped when decoded (in whatever split it fell).
    assert str(data / "render" / "truncated.jpg") in skipped
    assert m["data"]["skipped_count"] == len(skipped) >= 3


def test_a_crash_keeps_the_run_as_failed_and_leaves_current_untouched(tmp_path, models_copy, tiny_data, monkeypatch,
                                                                       capsys):
    import train.export

    current = (models_copy / "current").resolve()

    def boom(*a, **k):
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C during the export

    monkeypatch.setattr(train.export, "export_tfjs", boom)
    assert main(["--data", str(tiny_data), "--models", str(models_copy), "--static-site", str(tmp_path / "site"),
                 "--arch", "tracenet", "--epochs", "1", "--image-size", "32", "--grid", "1", "--run-id", "crashed"]) == 130
    assert "python -m train --resume crashed" in capsys.readouterr().err
    failed = models_copy / "runs" / "crashed"
    assert json.loads((failed / "failed.json").read_text())["stage"] == "export"
    assert (failed / "model.keras").is_file() and (failed / "train.log").read_text()  # the weights and the log kept
    assert runs.incomplete(failed).startswith("failed during export")
    assert not any(p.name.startswith(".partial") for p in (models_copy / "runs").iterdir())
    assert (models_copy / "current").resolve() == current
    assert not (tmp_path / "site").exists()


def test_predict_cli_rows_for_pictures_folders_and_unreadable_files(tmp_path, tiny_models, tiny_data, capsys):
    pics = tmp_path / "pics"
    pics.mkdir()
    for p in list((tiny_data / "render").glob("*"))[:2]:
        shutil.copy(p, pics / p.name)
    Image.fromarray(np.zeros((50, 70), np.uint8)).save(pics / "gray.png")  # any mode works
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    out = tmp_path / "out.csv"
    assert predict_main([str(pics), str(tmp_path / "broken.jpg"), "--models", str(tiny_models),
                         "--csv", str(out)]) == 0
    table = rows(out)
    assert len(table) == 4
    assert list(table[0]) == ["path", "verdict", "predicted_class", "p_photo", "p_render", "error"]
    broken = [r for r in table if r["path"].endswith("broken.jpg")][0]
    assert "broken.jpg" in broken["error"] and broken["predicted_class"] == broken["verdict"] == ""
    ok = [r for r in table if not r["error"]]
    assert len(ok) == 3 and all(r["predicted_class"] in ("photo", "render") for r in ok)
    assert all(r["verdict"] in (r["predicted_class"], "unsure") for r in ok)

    # Same numbers as the run's own predictions for a picture it evaluated.
    run = runs.resolve(tiny_models)
    evaluated = rows(run / "predictions.csv")[0]
    assert predict_main([evaluated["path"], "--models", str(tiny_models)]) == 0
    printed = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert float(printed[0]["p_render"]) == pytest.approx(float(evaluated["p_render"]), abs=1e-5)

    # A named run, and a clear error for a run that does not exist.
    assert predict_main([str(pics), "--models", str(tiny_models), "--run", "tiny-rendernet2017"]) == 0
    capsys.readouterr()
    assert predict_main([str(pics), "--models", str(tiny_models), "--run", "nope"]) == 2
    assert "nope" in capsys.readouterr().err


def test_predict_killed_then_resumed_writes_every_row_once(tmp_path, tiny_models, tiny_data):
    """train.predict killed (SIGKILL) mid-job leaves FILE untouched and its rows so far in .FILE.partial;
    --resume classifies only the rest, and the result equals an uninterrupted run, row for row.
    --shard I/N splits the same job into N disjoint shares that cover it."""
    COPIES = 6  # noqa: N806  (enough pictures that the job is still running when killed)
    pics = sorted(p for p in tiny_data.rglob("*") if p.is_file())
    assert len(pics) > 2 * 16
    folder = tmp_path / "pics"
    folder.mkdir()
    for i, pic in enumerate(pics):
        for copy in range(COPIES):
            shutil.copy(pic, folder / f"{copy}-{i:04d}{pic.suffix}")
    out = tmp_path / "out.csv"
    out.write_text("an earlier file\n")
    partial = tmp_path / ".out.csv.partial"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", "import sys, train.predict as p; p.CHUNK = 16; sys.exit(p.main(sys.argv[1:]))",
           str(folder), "--models", str(tiny_models), "--csv", str(out)]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (partial.is_file() and partial.read_text().count("\n") > 17) and proc.poll() is None:
        assert time.time() < deadline, "train.predict wrote no rows"
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert out.read_text() == "an earlier file\n"  # untouched by the killed job
    kept = partial.read_text().count("\n") - 1
    assert 16 <= kept < len(pics) * COPIES, kept
    with open(partial, "a") as f:
        f.write(str(folder / "half-a-row"))  # as if killed in the middle of a line
    assert predict_main([str(folder), "--models", str(tiny_models), "--csv", str(out), "--resume"]) == 0
    resumed = rows(out)
    whole = tmp_path / "whole.csv"
    assert predict_main([str(folder), "--models", str(tiny_models), "--csv", str(whole)]) == 0
    assert not partial.exists() and len(resumed) == len(pics) * COPIES
    assert sorted(map(tuple, (r.values() for r in resumed))) == sorted(map(tuple, (r.values() for r in rows(whole))))

    shares = []
    for i in (1, 2, 3):
        part = tmp_path / f"shard{i}.csv"
        assert predict_main([str(folder), "--models", str(tiny_models), "--csv", str(part), "--shard", f"{i}/3"]) == 0
        shares.append({r["path"] for r in rows(part)})
    assert all(shares) and sum(map(len, shares)) == len(set().union(*shares)) == len(pics) * COPIES
    with pytest.raises(SystemExit):
        predict_main([str(folder), "--models", str(tiny_models), "--shard", "4/3"])


def test_predict_resume_refuses_a_foreign_csv(tmp_path, tiny_models, tiny_data, capsys):
    """--resume on a CSV of another table: one line naming the file, exit 2, the file untouched;
    --resume without --csv is a usage error."""
    other = tmp_path / "other.csv"
    other.write_text("name,score\na,1\n")
    pic = str(next(p for p in tiny_data.rglob("*") if p.is_file()))
    assert predict_main([pic, "--models", str(tiny_models), "--csv", str(other), "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {other}") and "header" in err[0]
    assert other.read_text() == "name,score\na,1\n"
    with pytest.raises(SystemExit):
        predict_main([pic, "--models", str(tiny_models), "--resume"])


def test_predict_without_any_run_says_how_to_train(tmp_path, capsys):
    assert predict_main([str(tmp_path), "--models", str(tmp_path / "models")]) == 2
    assert "python -m train" in capsys.readouterr().err


def test_accuracy_by_source_prefix():
    from train.evaluate import by_source

    paths = ["a/houses_1_kitchen.jpg", "b/houses_2_bath.jpg", "wayfair_X1.jpg", "plain.jpg"]
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    got = by_source(paths, [0, 0, 1, 1], probs)
    assert got == {"(other)": {"n": 1, "accuracy": 0.0}, "houses": {"n": 2, "accuracy": 0.5},
                   "wayfair": {"n": 1, "accuracy": 1.0}}


def test_tfjs_bundles_are_checked_in_real_tfjs(tiny_run):
    from train.tfjs_node import missing

    check = json.loads((tiny_run / "metrics.json").read_text())["tfjs_check"]
    if missing():
        assert "skipped" in check
        pytest.skip(f"TF.js not installed: {missing()}")
    assert check["tfjs"]["max_abs_diff"] < 1e-4 and check["tfjs"]["agreement_with_keras"] == 1.0


@pytest.mark.slow
def test_quantized_bundle_is_served_and_measured(tmp_path, tiny_data):
    from train.tfjs_node import missing

    models, site = tmp_path / "models", tmp_path / "site"
    assert main(["--data", str(tiny_data), "--models", str(models), "--static-site", str(site), "--epochs", "1",
                 "--image-size", "32", "--grid", "2", "--quantize", "uint8", "--run-id", "q",
                 "--slice", "pngs=\\.png$", "--slice", "none=nothing-matches"]) == 0
    run = models / "runs" / "q"
    m = json.loads((run / "metrics.json").read_text())
    sizes = m["model"]["bytes"]
    pngs = [r for r in rows(run / "predictions.csv") if r["split"] == "test" and r["path"].endswith(".png")]
    assert m["test"]["slices"]["pngs"]["n"] == len(pngs) and m["test"]["slices"]["none"]["n"] == 0
    assert m["model"]["served_tfjs"] == "tfjs-uint8"
    assert sizes["tfjs-uint8"] < sizes["tfjs"] / 2  # uint8 weights: a quarter of float32, plus the graph
    served = json.loads((site / "model" / "model.json").read_text())
    float_weights = [w for group in served["weightsManifest"] for w in group["weights"] if w["dtype"] == "float32"]
    assert float_weights and all(w.get("quantization", {}).get("dtype") == "uint8" for w in float_weights)
    if missing():
        pytest.skip(f"TF.js not installed: {missing()}")
    q = m["tfjs_check"]["tfjs-uint8"]
    assert q["pictures"] == m["test"]["n"] and q["keras_accuracy"] == pytest.approx(m["test"]["accuracy"])
    assert q["agreement_with_keras"] >= 0.8
    assert q["max_abs_diff"] < 0.2  # quantized, so not exact, but the same model


def test_accuracy_on_named_slices():
    from train.evaluate import by_slice

    paths = ["houses_1_kitchen.jpg", "houses_1_frontal.jpg", "luisa_living-room.jpg", "kuhn_x.jpg"]
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    got = by_slice(paths, [0, 0, 1, 1], probs, ["photo", "render"], {"interiors": "kitchen|living-room"})
    assert got["interiors"]["n"] == 2 and got["interiors"]["accuracy"] == 1.0
    assert got["interiors"]["confusion_matrix"] == [[1, 0], [0, 1]]


def test_bad_slice_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--slice", "x=("])
    assert e.value.code == 2 and "--slice" in capsys.readouterr().err


@pytest.mark.slow
def test_features_computed_in_shards_on_other_machines_are_reused(tmp_path, tiny_data, capsys):
    """python -m train.features --shard I/N on N machines, then python -m train --features FILE...: the
    shares are disjoint and cover the data, and training embeds nothing again. A file that is not a
    features file is one line naming it, exit 2."""
    from train.features import main as features_main

    files = [tmp_path / f"features-{i}.npz" for i in (1, 2)]
    for i, f in enumerate(files, 1):
        assert features_main(["--data", str(tiny_data), "--shard", f"{i}/2", "--out", str(f)]) == 0
    keys = [set(np.load(f)["keys"]) for f in files]
    pictures = sum(1 for p in tiny_data.rglob("*") if p.is_file())
    assert all(keys) and not keys[0] & keys[1] and len(keys[0] | keys[1]) == pictures
    models = tmp_path / "models"
    assert main(["--data", str(tiny_data), "--models", str(models), "--static-site", "", "--run-id", "sharded",
                 "--features", *map(str, files)]) == 0
    m = json.loads((models / "runs" / "sharded" / "metrics.json").read_text())
    trained = sum(m["data"]["counts"][split][c] for split in ("train", "val") for c in m["class_names"])
    assert m["training"]["features_reused"] == trained > 0
    # The same run on one machine: the same answers (the shared features are stored as float16).
    assert main(["--data", str(tiny_data), "--models", str(models), "--static-site", "", "--run-id", "one",
                 "--force"]) == 0
    one, sharded = rows(models / "runs" / "one" / "predictions.csv"), rows(models / "runs" / "sharded" / "predictions.csv")
    assert [r["path"] for r in one] == [r["path"] for r in sharded]
    assert sum(a["verdict"] == b["verdict"] for a, b in zip(one, sharded)) >= len(one) - 1
    assert max(abs(float(a["p_render"]) - float(b["p_render"])) for a, b in zip(one, sharded)) < 0.05
    (tmp_path / "junk.npz").write_text("not numpy")
    capsys.readouterr()
    assert main(["--data", str(tiny_data), "--models", str(models), "--static-site", "", "--features",
                 str(tmp_path / "junk.npz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "junk.npz" in err[0] and "not a features file" in err[0]
    # A data folder that is not there: one line naming it, exit 2, no file written.
    assert features_main(["--data", str(tmp_path / "gone"), "--out", str(tmp_path / "f.npz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "gone" in err[0] and not (tmp_path / "f.npz").exists()

