"""What a run ships travels: model.tflite (LiteRT) and the TF.js bundle give model.keras's answers, and
the served bundle carries the probes the page checks its backend with."""
from __future__ import annotations

import base64
import csv
import json

import numpy as np
import pytest

from train.export import LITERT_FILE, PROBES_FILE, predict_litert, probe_pictures
from train.preprocess import load_rgb, model_input
from train.runs import load_run_model
from train.tfjs_node import missing, predict_tfjs_pictures

needs_node = pytest.mark.skipif(missing() is not None, reason=f"TF.js in Node unavailable: {missing()}")


def run_folder(name, tiny_models, lite0_run):
    return lite0_run if name == "tiny-lite0" else tiny_models / "runs" / name


def scored_inputs(run_dir, spec, n=6) -> list:
    """Model inputs of a run's first scored pictures (the demo pictures differ in size)."""
    with open(run_dir / "predictions.csv", newline="") as f:
        paths = [r["path"] for r in csv.DictReader(f)][:n]
    return [model_input(load_rgb(p), spec) for p in paths]


@needs_node
@pytest.mark.parametrize("name", ["tiny-lite0", "tiny-tracenet", "tiny-rendernet2017"])
def test_keras_litert_and_tfjs_agree(tiny_models, lite0_run, name):
    """The three artifacts on the same inputs, pictures of several sizes and the probes: within 1e-4."""
    run_dir = run_folder(name, tiny_models, lite0_run)
    spec, model = load_run_model(run_dir)
    inputs = scored_inputs(run_dir, spec) + probe_pictures(spec)
    if spec.view != "whole":
        assert len({x.shape for x in inputs}) > 2  # several picture sizes through the one file
    keras_probs = np.concatenate([model(x, training=False).numpy() for x in inputs])
    litert = predict_litert(run_dir / LITERT_FILE, inputs)
    tfjs = predict_tfjs_pictures(run_dir / "tfjs", inputs)
    assert litert.shape == tfjs.shape == keras_probs.shape == (len(inputs), len(spec.class_names))
    np.testing.assert_allclose(litert, keras_probs, rtol=0, atol=1e-4)
    np.testing.assert_allclose(tfjs, keras_probs, rtol=0, atol=1e-4)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["model"]["bytes"][LITERT_FILE] == (run_dir / LITERT_FILE).stat().st_size > 10_000


@needs_node
def test_served_bundle_carries_the_self_check(lite0_run):
    """probes.json: the generated pictures, model.keras's probabilities for them, and a tolerance above what
    the quantized bundle itself is off in TF.js (so an honest backend passes), small enough to matter."""
    spec, model = load_run_model(lite0_run)
    metrics = json.loads((lite0_run / "metrics.json").read_text())
    served = metrics["model"]["served_tfjs"]
    probes = json.loads((lite0_run / served / PROBES_FILE).read_text())
    pictures = probe_pictures(spec)
    assert len(probes["probes"]) == len(pictures) >= 3
    for probe, x in zip(probes["probes"], pictures):
        pixels = np.frombuffer(base64.b64decode(probe["pixels"]), np.uint8).reshape(probe["shape"])
        np.testing.assert_array_equal(pixels, x)
        np.testing.assert_allclose(probe["probabilities"], model(x, training=False).numpy()[0], atol=1e-5)  # graph vs eager
    got = predict_tfjs_pictures(lite0_run / served, pictures)
    off = np.abs(got - [p["probabilities"] for p in probes["probes"]]).max()
    assert off <= probes["measured_tfjs_diff"] + 1e-6 and off < probes["tolerance"] <= 0.2
    assert len({round(p["probabilities"][0], 3) for p in probes["probes"]}) > 1  # the probes are not alike


def test_lite0_model_keras_opens_in_plain_keras_without_this_repository(lite0_run, tmp_path):
    """model.keras is made of Keras's own layers: keras.models.load_model (safe mode) in a Python that
    cannot import this repository gives train.predict's probabilities for the same pictures."""
    import subprocess
    import sys

    from train.predict import predict_files

    spec, model = load_run_model(lite0_run)
    with open(lite0_run / "predictions.csv", newline="") as f:
        paths = [r["path"] for r in csv.DictReader(f)][:4]
    expected, errors = predict_files(model, spec, paths)
    assert not any(errors)
    np.savez(tmp_path / "inputs.npz", *[model_input(load_rgb(p), spec) for p in paths])
    code = ("import sys, numpy as np, keras\n"
            "assert not any(m == 'train' or m.startswith('train.') for m in sys.modules)\n"
            "try:\n    import train\nexcept ImportError:\n    pass\nelse:\n    raise SystemExit('the repository is importable')\n"
            f"model = keras.models.load_model({str(lite0_run / 'model.keras')!r}, compile=False, safe_mode=True)\n"
            f"inputs = np.load({str(tmp_path / 'inputs.npz')!r})\n"
            "probs = np.concatenate([model.predict(inputs[k], verbose=0) for k in inputs.files])\n"
            f"np.save({str(tmp_path / 'plain.npy')!r}, probs)\n")
    out = subprocess.run([sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-800:]
    np.testing.assert_allclose(np.load(tmp_path / "plain.npy"), expected, atol=1e-5)
