"""Keras model -> TF.js graph model.

TF.js 4.22 cannot load the layers-model JSON written for Keras 3 models, so the route is: SavedModel
(`model.export`) then the tensorflowjs SavedModel converter; the page loads it with tf.loadGraphModel.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

# Weight storage of a TF.js bundle -> the converter's quantization map. "mixed": uint8 for the blocks 8-15
# of lite0's backbone (86 % of its weights; measured: same answers as float32 to ~0.04), float16 for the
# rest (its first blocks and heads, where uint8 per-tensor ranges cost accuracy). Other networks have no
# such blocks, so "mixed" is float16 for them.
QUANTIZATIONS = {
    "float32": None,
    "float16": {"float16": True},
    "uint8": {"uint8": True},
    "mixed": {"uint8": ["*blocks_[89]_*", "*blocks_1[0-5]_*"], "float16": True},
}


def export_tfjs(model, out_dir: Path, quantize: str = "float32") -> Path:
    """Write a TF.js graph model (model.json + weight shards) to out_dir; weights stored as
    `quantize` (QUANTIZATIONS: the converter's weight quantization, dequantized at load)."""
    from tensorflowjs.converters.tf_saved_model_conversion_v2 import convert_tf_saved_model

    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {QUANTIZATIONS}, not {quantize!r}")
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="savedmodel-") as tmp:
        saved = Path(tmp) / "saved_model"
        model.export(str(saved), format="tf_saved_model", verbose=False)
        convert_tf_saved_model(
            str(saved), str(out_dir), signature_def="serving_default", saved_model_tags="serve",
            quantization_dtype_map=QUANTIZATIONS[quantize],
        )
    return out_dir


def folder_bytes(path: Path) -> int:
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def replace_dir(src: Path, dst: Path) -> None:
    """Put folder src at dst, replacing what was there with two renames (never a half-written dst)."""
    dst = Path(dst)
    old = dst.with_name(f".{dst.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if dst.exists():
        dst.rename(old)
    Path(src).rename(dst)
    if old.exists():
        shutil.rmtree(old)


def copy_to_static_site(run_dir: Path, site_model_dir: Path, files: list[str], tfjs_dir: str = "tfjs") -> None:
    """Refresh the static page's model folder from a run: the TF.js graph model plus the listed files."""
    site_model_dir = Path(site_model_dir)
    site_model_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".model-", dir=site_model_dir.parent))
    try:
        for f in Path(run_dir, tfjs_dir).iterdir():
            shutil.copy(f, staging / f.name)  # fresh dates: hosts and CDNs revalidate by them
        for name in files:
            shutil.copy(Path(run_dir, name), staging / name)
        replace_dir(staging, site_model_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def check_bundles(run_dir: Path, bundles: list[str], spec, paths, labels, keras_probs, limit: int = 300) -> dict:
    """Run each TF.js bundle of a run in real TF.js (Node, WASM backend) on up to `limit` test pictures:
    accuracy after quantization, agreement with model.keras and the largest probability difference.
    -> {bundle: {...}}, or {"skipped": why} when Node/TF.js is not installed."""
    import numpy as np

    from .preprocess import load_rgb, views
    from .tfjs_node import missing, predict_tfjs_pictures

    problem = missing()
    if problem:
        return {"skipped": problem}
    paths, labels, keras_probs = list(paths)[:limit], np.asarray(labels)[:limit], np.asarray(keras_probs)[:limit]
    if not paths:
        return {"skipped": "no test pictures"}
    per_picture = [views(load_rgb(p), spec) for p in paths]
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
