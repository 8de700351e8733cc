"""Keras model -> TF.js graph model and LiteRT (TFLite) file; and `python -m train.export RUN`, which
(re)does a run's export.

TF.js 4.22 cannot load the layers-model JSON written for Keras 3 models, so the route is: SavedModel
(`model.export`) then the tensorflowjs SavedModel converter; the page loads it with tf.loadGraphModel.
Every TF.js bundle carries probes.json: a few generated pictures and model.keras's probabilities for
them, which the page checks its backend against on the visitor's device (static_site/classifier.js), and
reference.json: the run's validation pictures as embeddings and labels, which the page scores an
adaptation on before using it (static_site/learn.js).
model.tflite is model.keras for phones and edge devices (TFLite's built-in operations only).

    python -m train.export RUN [--models DIR] [--force]

finishes a run that failed while exporting (or re-exports a complete one): the TF.js bundles from its
model.keras, measured in TF.js on its test pictures, then the quality gate as `python -m train` does.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import tempfile
import types
from pathlib import Path

from . import files, runs
from .config import DEFAULT_MODELS, QUANTIZATIONS
from .csvfile import open_csv
from .errors import command, one_line
from .files import folder_bytes, size_text

# What TensorFlow's C++ side (grappler, while converting) writes straight to file descriptor 2 whatever
# TF_CPP_MIN_LOG_LEVEL says: absl INFO lines ("I0000 00:00:... Starting new session") and their preamble,
# and the TFLite converter's two warnings about settings Keras passes that it ignores.
NATIVE_INFO = re.compile(r"^(I\d{4} |WARNING: All log messages before absl::InitializeLog"
                         r"|W\d{4} .*Ignored (output_format|drop_control_dependency)\.)")


@contextlib.contextmanager
def native_info_dropped():
    """Catch file descriptor 2 for the block; afterwards pass every line on except NATIVE_INFO ones, so
    real warnings and errors (Python's or TensorFlow's) still show, in order."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            for line in caught.read().decode(errors="replace").splitlines(keepends=True):
                if not NATIVE_INFO.match(line):
                    sys.stderr.write(line)
            sys.stderr.flush()


def saved_model_converter():
    """tensorflowjs's SavedModel converter. tensorflowjs is installed with --no-deps (requirements-nodeps.txt):
    its package imports two libraries this converter never uses, TensorFlow Decision Forests (imported
    only to register its ops) and JAX (for its jax_conversion module). Stand-ins always take their
    place, installed or not: an installed TFDF built for the `tensorflow` wheel crashes the process when
    loaded beside `tensorflow-cpu` (protobuf CHECK failure, seen where an older set-up left it behind),
    and a conversion never needs either. TFDF's stand-in lives only while importing; jax_conversion's is
    a module whose function says why it cannot run. jax itself is never faked (Keras looks for it)."""
    jax_module = "tensorflowjs.converters.jax_conversion"
    if jax_module not in sys.modules:
        def convert_jax(*args, **kwargs):
            raise ImportError("JAX conversion is not part of this project's TF.js export")
        stub = types.ModuleType(jax_module)
        stub.convert_jax = convert_jax
        sys.modules[jax_module] = stub  # stays: the converters package refers to it
    tfdf = "tensorflow_decision_forests"
    real_tfdf = sys.modules.get(tfdf)
    sys.modules[tfdf] = types.ModuleType(tfdf)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # in case an import prints a banner
            from tensorflowjs.converters.tf_saved_model_conversion_v2 import convert_tf_saved_model
    finally:
        if real_tfdf is None:
            sys.modules.pop(tfdf, None)
        else:
            sys.modules[tfdf] = real_tfdf
    return convert_tf_saved_model


def export_tfjs(model, out_dir: Path, quantize: str = "float32") -> Path:
    """Write a TF.js graph model (model.json + weight shards) to out_dir; weights stored as
    `quantize` (QUANTIZATIONS: the converter's weight quantization, dequantized at load)."""
    convert_tf_saved_model = saved_model_converter()
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {QUANTIZATIONS}, not {quantize!r}")
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="savedmodel-") as tmp, native_info_dropped():
        saved = Path(tmp) / "saved_model"
        model.export(str(saved), format="tf_saved_model", verbose=False)
        with contextlib.redirect_stdout(io.StringIO()):  # the converter prints an IPython object
            convert_tf_saved_model(
                str(saved), str(out_dir), signature_def="serving_default", saved_model_tags="serve",
                quantization_dtype_map=QUANTIZATIONS[quantize],
            )
    return out_dir


LITERT_FILE = "model.tflite"


def export_litert(model, path: Path) -> Path:
    """model.keras as a LiteRT flatbuffer at `path` (written beside, then renamed), with TFLite's built-in
    operations only: no Flex delegate, so the stock interpreter of Android, iOS and `ai-edge-litert` runs
    it. The input keeps the model's shape ([N, H, W, 3], any size where the model takes any size)."""
    import tensorflow as tf

    with files.replacing(path, suffix=".tflite") as tmp, native_info_dropped(), \
            contextlib.redirect_stdout(io.StringIO()):
        model.export(str(tmp), format="litert", verbose=False,
                     target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]})
    return Path(path)


def predict_litert(path: Path, inputs) -> "np.ndarray":
    """Probabilities [P, C] of a LiteRT file for each picture's model input (a list of [1, H, W, 3]
    float32 arrays, preprocess.model_input), with TensorFlow's own interpreter (the same runtime as
    `ai-edge-litert`); the input is resized to each picture."""
    import numpy as np
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=str(path))
    runner = interpreter.get_signature_runner()
    name = next(iter(runner.get_input_details()))
    out = [next(iter(runner(**{name: np.asarray(x, np.float32)}).values())) for x in inputs]
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


PROBES_FILE = "probes.json"
PROBE_SEED = 20  # the probes are the same in every run of a spec
PROBE_TOLERANCE_MIN = 0.01  # probability the page's backend may be off model.keras on a probe, at least...
PROBE_TOLERANCE_FACTOR = 2  # ... or this many times what the bundle measured off in TF.js here (quantization)
PROBE_TOLERANCE_UNMEASURED = 0.1  # when TF.js could not run here to measure the bundle


def probe_pictures(spec) -> list:
    """Three generated pictures as model inputs ([1, H, W, 3] float32, whole 0-255 levels): a smooth
    gradient, noise, hard-edged blocks; small (the whole view's square, else 48 x 64 or the crop size),
    so the bundle carries them cheaply and the page checks them in a moment."""
    import numpy as np

    rng = np.random.default_rng(PROBE_SEED)
    h, w = (spec.input_size,) * 2 if spec.view == "whole" else (max(48, spec.input_size), max(64, spec.input_size))
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    gradient = np.stack([255 * xx, 255 * yy, 128 + 100 * np.sin(9 * xx + 5 * yy)], -1)
    noise = rng.normal(128, 60, (h, w, 3))
    blocks = np.kron(rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3)), np.ones((8, 8, 1)))[:h, :w]
    return [np.clip(np.round(p), 0, 255).astype(np.float32)[None] for p in (gradient, noise, blocks)]


def write_probes(bundle: Path, model, spec) -> dict:
    """probes.json in a TF.js bundle: the probe pictures (uint8, base64), model.keras's probabilities for
    them, and the tolerance the page holds its backend to (the bundle's own deviation from model.keras,
    measured here in TF.js, times PROBE_TOLERANCE_FACTOR, at least PROBE_TOLERANCE_MIN). -> its content."""
    import base64

    import numpy as np

    from .model import compiled
    from .tfjs_node import missing, predict_tfjs_pictures

    pictures = probe_pictures(spec)
    expected = np.concatenate([compiled(model)(x).numpy() for x in pictures])
    measured = None
    if missing() is None:
        measured = float(np.abs(predict_tfjs_pictures(bundle, pictures) - expected).max())
    tolerance = (PROBE_TOLERANCE_UNMEASURED if measured is None
                 else max(PROBE_TOLERANCE_MIN, PROBE_TOLERANCE_FACTOR * measured))
    content = {
        "about": "The page's self-check: generated pictures (uint8 RGB, base64, shape [1, H, W, 3]) and the "
                 "probabilities model.keras gives for them; a backend whose answers are further than "
                 "`tolerance` from them is not used (train/export.py write_probes).",
        "tolerance": tolerance, "measured_tfjs_diff": measured,
        "probes": [{"shape": list(x.shape), "pixels": base64.b64encode(x.astype(np.uint8).tobytes()).decode(),
                    "probabilities": p.tolist()} for x, p in zip(pictures, expected)],
    }
    files.write_json(Path(bundle) / PROBES_FILE, content)
    return content


def check_bundles(run_dir: Path, bundles: list[str], spec, paths, labels, keras_probs, limit: int = 300) -> dict:
    """Run each TF.js bundle of a run in real TF.js (Node, WASM backend) on up to `limit` test pictures:
    accuracy after quantization, agreement with model.keras and the largest probability difference.
    -> {bundle: {...}}, or {"skipped": why} when Node/TF.js is not installed."""
    import numpy as np

    from .preprocess import load_rgb, model_input
    from .tfjs_node import missing, predict_tfjs_pictures

    problem = missing()
    if problem:
        return {"skipped": problem}
    paths, labels, keras_probs = list(paths)[:limit], np.asarray(labels)[:limit], np.asarray(keras_probs)[:limit]
    if not paths:
        return {"skipped": "no test pictures"}
    per_picture = [model_input(load_rgb(p), spec) for p in paths]
    out = {}
    for name in bundles:
        probs = predict_tfjs_pictures(Path(run_dir) / name, per_picture)
        out[name] = {
            "bytes": folder_bytes(Path(run_dir) / name),
            "pictures": len(paths),
            "accuracy": float((probs.argmax(1) == labels).mean()),
            "keras_accuracy": float((keras_probs.argmax(1) == labels).mean()),
            "agreement_with_keras": float((probs.argmax(1) == keras_probs.argmax(1)).mean()),
            "max_abs_diff": float(np.abs(probs - keras_probs).max()),
        }
    return out


FEATURE_REFERENCE = 400  # pictures at most whose embeddings standardize the page's features output


def page_model(model, spec, reference_paths):
    """The model the page gets (model.exported_model): its features output standardized by the mean and
    variance of the embeddings of `reference_paths` (a run's validation and test pictures; unreadable
    ones skipped)."""
    import numpy as np

    from .model import compiled, exported_model
    from .preprocess import BadImage, load_rgb, model_input

    raw = exported_model(model, spec)
    run = compiled(keras_features(raw))
    features = []
    for path in list(reference_paths)[:FEATURE_REFERENCE]:
        try:
            features.append(run(model_input(load_rgb(path), spec)).numpy()[0])
        except BadImage:
            continue
    if len(features) < 2:
        return raw
    f = np.stack(features)
    return exported_model(model, spec, (f.mean(0), f.var(0) + 1e-6))


REFERENCE_FILE = "reference.json"
REFERENCE_PICTURES = 200  # at most: ~0.6 MB per 1,000 features in the bundle; 0.5 points of accuracy each


def reference_set(exported, spec, paths, labels) -> dict | None:
    """reference.json of a TF.js bundle: the page's harm check (static_site/learn.js) scores an adaptation
    on these before using it. For up to REFERENCE_PICTURES of `paths` (a run's scored validation pictures,
    unreadable ones skipped) with class indices `labels`: the exported model's probabilities and its
    features output, each picture's features scaled to |max| 127 and stored as int8 (base64; learn.js only
    uses their direction). No pictures. -> its content, or None (no readable picture)."""
    import base64

    import keras
    import numpy as np

    from .model import compiled
    from .preprocess import BadImage, load_rgb, model_input

    run = compiled(keras.Model(exported.inputs, [exported.output["probabilities"], exported.output["features"]]))
    probs, features, kept = [], [], []
    for path, label in list(zip(paths, labels))[:REFERENCE_PICTURES]:
        try:
            p, f = run(model_input(load_rgb(path), spec))
        except BadImage:
            continue
        probs.append(np.asarray(p)[0])
        features.append(np.asarray(f)[0])
        kept.append(int(label))
    if not kept:
        return None
    f = np.stack(features)
    q = np.round(127 * f / np.maximum(np.abs(f).max(1, keepdims=True), 1e-12)).astype(np.int8)
    content = {
        "about": "The page's harm check: the exported model's probabilities and features (int8, base64, shape "
                 "[n, dim], each row scaled to |max| 127) for the run's scored validation pictures, and their "
                 "classes; no pictures (train/export.py write_reference).",
        "n": len(kept), "dim": int(f.shape[1]), "labels": kept,
        "probabilities": np.round(np.stack(probs), 6).tolist(),
        "features": base64.b64encode(q.tobytes()).decode(),
    }
    return content


def keras_features(exported):
    """The features output of model.exported_model alone (a Keras model)."""
    import keras

    return keras.Model(exported.inputs, exported.output["features"])


def export_run(run_dir: Path, model, spec, quantize: str) -> dict:
    """A run folder's TF.js bundles (float32 `tfjs/` and the served `tfjs-<quantize>/`, each with its
    probes.json) and model.tflite; the bundles measured in
    TF.js on its test pictures (predictions.csv); metrics.json's model and tfjs_check parts filled in.
    -> the updated metrics (also written)."""
    import csv
    import json
    import time

    import numpy as np

    run_dir = Path(run_dir)
    t0 = time.time()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    with open_csv(run_dir / "predictions.csv") as f:
        scored = list(csv.DictReader(f))
    exported = page_model(model, spec, [r["path"] for r in scored])
    served = "tfjs" if quantize == "float32" else f"tfjs-{quantize}"
    probes = {}
    val = [r for r in scored if r["split"] == "val"]
    reference = reference_set(exported, spec, [r["path"] for r in val],
                              [list(spec.class_names).index(r["true_class"]) for r in val])
    for name, q in (("tfjs", "float32"), (served, quantize)):
        if name == "tfjs" or served != "tfjs":
            with files.replacing(run_dir / name) as tmp:  # a bundle is complete or absent (a full disk)
                export_tfjs(exported, tmp, quantize=q)
                probes[name] = write_probes(tmp, model, spec)
                if reference is not None:
                    files.write_json(tmp / REFERENCE_FILE, reference)
    export_litert(model, run_dir / LITERT_FILE)
    export_seconds = time.time() - t0
    test = [r for r in scored if r["split"] == "test"]
    names = list(spec.class_names)
    probs = np.array([[float(r[f"p_{c}"]) for c in names] for r in test]).reshape(len(test), len(names))
    check = check_bundles(run_dir, sorted({"tfjs", served}), spec, [r["path"] for r in test],
                          [names.index(r["true_class"]) for r in test], probs)
    metrics["model"] = {**metrics.get("model", {}), "served_tfjs": served, "quantize": quantize,
                        "self_check": {name: {"tolerance": p["tolerance"], "measured_tfjs_diff": p["measured_tfjs_diff"]}
                                       for name, p in probes.items()},
                        "bytes": {"model.keras": folder_bytes(run_dir / "model.keras"),
                                  LITERT_FILE: folder_bytes(run_dir / LITERT_FILE),
                                  **{d.name: folder_bytes(d) for d in sorted(run_dir.glob("tfjs*"))}}}
    metrics["tfjs_check"] = check
    metrics.setdefault("timings", {})["export_s"] = round(export_seconds, 2)
    files.write_json(run_dir / "metrics.json", metrics)
    return metrics


@command
def main(argv=None) -> int:
    import argparse
    import json

    from .preprocess import SPEC_FILE

    p = argparse.ArgumentParser(prog="python -m train.export", description=__doc__.split("\n\n")[-1].strip())
    p.add_argument("run", help="run id (a failed run, or a complete one to export again)")
    p.add_argument("--models", type=Path, default=DEFAULT_MODELS, help=f"models folder (default: {DEFAULT_MODELS}/)")
    p.add_argument("--quantize", choices=list(QUANTIZATIONS), default=None,
                   help="served bundle's weights (default: what the run used)")
    p.add_argument("--static-site", type=Path, default=None, help="as for python -m train")
    p.add_argument("--force", action="store_true", help="make it current whatever the quality gate says")
    args = p.parse_args(argv)
    runs.repaired(args.models)  # a run killed while exporting is then an interrupted one, here to finish
    folder = args.models / "runs" / args.run
    failed = runs.read_failed(folder)
    if failed is not None and failed.get("stage") not in ("export",):
        raise runs.RunError(f"{folder}: failed during {failed.get('stage')}, before there was anything to "
                            f"export; continue it with `python -m train --resume {args.run}`")
    missing = [f for f in ("model.keras", SPEC_FILE, "metrics.json", "predictions.csv") if not (folder / f).is_file()]
    if missing:
        raise runs.RunError(f"{folder}: cannot export, missing {', '.join(missing)}")
    metrics = json.loads((folder / "metrics.json").read_text())
    quantize = args.quantize or metrics.get("model", {}).get("quantize") or metrics.get("config", {}).get("quantize") or "float16"
    spec, model = runs.load_run_model(folder)
    try:
        if failed is None:  # a complete run exported again, in place
            export_run(folder, model, spec, quantize)
            final = folder
        else:
            with runs.started(args.models, args.run, stage="export", resume=True) as run:
                export_run(run.folder, model, spec, quantize)
                final = run.finish()
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        print(f"error: export of {args.run} failed: {one_line(e)}", file=sys.stderr)
        return 1
    print(f"exported {args.run}: " + ", ".join(f"{d.name} {size_text(folder_bytes(d))}"
                                              for d in sorted(final.glob("tfjs*"))))
    runs.conclude(args.models, final, runs.site_for(args.models, args.static_site), args.force)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
