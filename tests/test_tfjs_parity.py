"""The TF.js bundle the page serves answers like model.keras (real TF.js, run in Node.js).

Needs `node` and `npm --prefix static_site ci` (setup.sh); skips with the reason when they are missing.
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from train.preprocess import load_rgb, model_input
from train.runs import load_run_model
from train.tfjs_node import missing, predict_tfjs, predict_tfjs_pictures, run_tfjs

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(missing() is not None, reason=f"TF.js in Node unavailable: {missing()}")


def sample_pictures(run_dir, n=8) -> list[str]:
    with open(run_dir / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    rows.sort(key=lambda r: r["split"] != "test")  # test pictures first, then validation if too few
    return [r["path"] for r in rows[:n]]


def keras_and_inputs(run_dir):
    """-> (spec, model, the pictures' model inputs (a list of [1, H, W, 3]: the demo pictures differ in
    size), Keras's probabilities [N, C])."""
    spec, model = load_run_model(run_dir)
    inputs = [model_input(load_rgb(p), spec) for p in sample_pictures(run_dir)]
    return spec, model, inputs, np.concatenate([model(x, training=False).numpy() for x in inputs])


@pytest.fixture(scope="module")
def tracenet(tiny_run):
    return keras_and_inputs(tiny_run)


@pytest.mark.parametrize("run", ["tiny-tracenet", "tiny-rendernet2017"])
def test_float32_bundle_matches_keras(tiny_models, run):
    """One picture in, one row of probabilities out; the crops model cuts and votes its grid inside
    TF.js too (slicing on the picture's own size), for pictures of several sizes."""
    run_dir = tiny_models / "runs" / run
    spec, _, inputs, expected = keras_and_inputs(run_dir)
    assert len(inputs) >= 8 and expected.shape == (len(inputs), len(spec.class_names))
    if spec.view == "crops":
        assert len({x.shape for x in inputs}) > 1  # several picture sizes went through the one graph
    got = predict_tfjs_pictures(run_dir / "tfjs", inputs)
    assert got.shape == expected.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize("run", ["tiny-tracenet", "tiny-rendernet2017"])
def test_bundle_also_gives_the_embedding_the_page_learns_on(tiny_models, run):
    """The exported bundle has a "features" output (export.page_model: what the last Dense reads, averaged
    over the crops for a crops run, standardized by the run's scored pictures), equal to Keras's; its
    probabilities are model.keras's."""
    from train.export import page_model

    run_dir = tiny_models / "runs" / run
    spec, model, inputs, expected = keras_and_inputs(run_dir)
    with open(run_dir / "predictions.csv", newline="") as f:
        scored = [r["path"] for r in csv.DictReader(f)]
    exported = page_model(model, spec, scored)
    keras_out = [exported(x, training=False) for x in inputs[:3]]
    np.testing.assert_allclose(np.concatenate([o["probabilities"].numpy() for o in keras_out]), expected[:3], atol=1e-6)
    features = np.concatenate([o["features"].numpy() for o in keras_out])
    got = np.concatenate([run_tfjs(run_dir / "tfjs", x, output="features")[0] for x in inputs[:3]])
    assert got.shape == features.shape and features.shape[1] > 8
    np.testing.assert_allclose(got, features, rtol=1e-3, atol=1e-3)
    everyone = np.concatenate([exported(x, training=False)["features"].numpy() for x in inputs])
    assert np.abs(everyone.mean(0)).mean() < 1.0  # centred on the run's pictures, not on zero activations


def test_cpu_backend_matches_wasm(tiny_run, tracenet):
    _, _, inputs, expected = tracenet
    got = predict_tfjs_pictures(tiny_run / "tfjs", inputs[:4], backend="cpu")
    np.testing.assert_allclose(got, expected[:4], atol=1e-4)


def test_site_model_folder_is_the_current_run(tiny_run, tiny_site_model, tracenet):
    """The training command refreshed the page's model/ from this run: same answers."""
    _, _, inputs, expected = tracenet
    np.testing.assert_allclose(predict_tfjs_pictures(tiny_site_model, inputs), expected, atol=1e-4)


@pytest.mark.parametrize("quantize,atol", [("float16", 5e-3), ("uint8", 0.1)])
def test_quantized_bundles_load_and_stay_close(tmp_path, tracenet, quantize, atol):
    from train.export import export_tfjs
    from train.files import folder_bytes

    _, model, inputs, expected = tracenet
    f32 = export_tfjs(model, tmp_path / "tfjs")
    q = export_tfjs(model, tmp_path / f"tfjs-{quantize}", quantize=quantize)
    assert folder_bytes(q) < folder_bytes(f32)
    got = predict_tfjs_pictures(q, inputs)
    assert got.shape == expected.shape and np.isfinite(got).all()
    np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-4)
    np.testing.assert_allclose(got, expected, atol=atol)


def test_missing_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.json"):
        predict_tfjs(tmp_path, np.zeros((1, 8, 8, 3), np.float32))


def test_converter_never_loads_tensorflow_decision_forests(tmp_path):
    """tensorflowjs imports TFDF only to register ops a Keras model never has. An installed TFDF built for
    another TensorFlow wheel crashes the process when loaded (seen in CI, where an older set-up had left
    TFDF 1.12 beside tensorflow-cpu): the converter must come up without ever importing it."""
    fake = tmp_path / "tensorflow_decision_forests"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise RuntimeError('CHECK failed: imported TFDF')\n")
    code = ("import sys; from train.export import saved_model_converter; saved_model_converter(); "
            "assert 'tensorflow_decision_forests' not in sys.modules; print('converter ready')")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "converter ready" in proc.stdout, proc.stderr[-2000:]
