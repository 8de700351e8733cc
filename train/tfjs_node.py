"""Run an exported TF.js graph model in Node.js, through train/tfjs_predict.mjs (this package's own tool).

It loads the very TF.js packages the page's runtime (static_site/vendor/) is built from, from
static_site/node_modules: the check runs what visitors run. Used by training (metrics.json tfjs_check: the
accuracy of each bundle after weight quantization), the parity tests and the benchmarks, all through
`predict_tfjs` / `time_tfjs`. Needs `node` on PATH and `npm --prefix static_site ci` (setup.sh does both).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from .site import SITE

RUNTIME = SITE / "node_modules"  # the page's TF.js packages (npm ci), which its vendor/ bundles are copied from
SCRIPT = Path(__file__).with_name("tfjs_predict.mjs")
PACKAGES = ("tfjs-core", "tfjs-converter", "tfjs-backend-wasm", "tfjs-backend-cpu")


class TfjsUnavailable(RuntimeError):
    """Node.js or the TF.js packages are missing; the message says what to install."""


def missing() -> str | None:
    """None when TF.js can run in Node here; otherwise what is missing and how to get it."""
    if shutil.which("node") is None:
        return "`node` is not on PATH (install Node.js 20+)"
    absent = [p for p in PACKAGES if not (RUNTIME / "@tensorflow" / p / "package.json").is_file()]
    if absent:
        return (f"{RUNTIME} lacks @tensorflow/{', @tensorflow/'.join(absent)} "
                "(run `npm --prefix static_site ci`)")
    if not SCRIPT.is_file():
        return f"{SCRIPT} is missing"
    return None


def tfjs_available() -> bool:
    return missing() is None


def run_tfjs(model_dir, x: np.ndarray, backend: str = "wasm", batch: int = 64, timeout: float = 600,
             output: str = "probabilities") -> tuple[np.ndarray, dict]:
    """The TF.js graph model in model_dir (model.json + shards) on float32 pictures x [N, H, W, 3]
    (0-255, as train.preprocess.model_input makes them), `batch` at a time -> (probabilities [N, C], the
    script's report: backend, load_ms, predict_ms, tensors_left). `output`: "features" for the embedding."""
    problem = missing()
    if problem:
        raise TfjsUnavailable(f"cannot run TF.js in Node: {problem}")
    model_dir = Path(model_dir)
    if not (model_dir / "model.json").is_file():
        raise FileNotFoundError(f"{model_dir / 'model.json'}: no TF.js model there")
    x = np.ascontiguousarray(x, dtype="<f4")
    if x.ndim != 4:
        raise ValueError(f"pictures must be [N, H, W, C], got shape {x.shape}")
    with tempfile.TemporaryDirectory(prefix="tfjs-predict-") as tmp:
        src, dst = Path(tmp) / "in.f32", Path(tmp) / "out.f32"
        x.tofile(src)  # raw little-endian float32: no JSON round trip, no precision lost
        cmd = ["node", str(SCRIPT), str(model_dir.resolve()), str(src), str(dst), "--shape", ",".join(map(str, x.shape)),
               "--backend", backend, "--batch", str(batch), "--node-modules", str(RUNTIME), "--output", output]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"TF.js prediction failed (exit {proc.returncode}): "
                               f"{(proc.stderr or proc.stdout).strip()[-2000:]}")
        # The script's report is its last JSON line (TF.js may print a banner before it).
        report = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1])
        out = np.fromfile(dst, dtype="<f4")
    return (out.reshape(len(x), report["classes"]) if len(x) else out.reshape(0, 0)), report


def predict_tfjs(model_dir, x: np.ndarray, backend: str = "wasm", timeout: float = 600) -> np.ndarray:
    """Probabilities float32 [N, C] of the TF.js graph model in model_dir for pictures x [N, H, W, 3]."""
    return run_tfjs(model_dir, x, backend=backend, timeout=timeout)[0]


def time_tfjs(model_dir, x: np.ndarray, backend: str = "wasm") -> float:
    """Milliseconds TF.js took to predict x one picture per call (after loading the model)."""
    return float(run_tfjs(model_dir, x, backend=backend, batch=1)[1]["predict_ms"])


def predict_tfjs_pictures(model_dir, inputs, backend: str = "wasm") -> np.ndarray:
    """Per-picture probabilities [P, C] of a TF.js graph model for each picture's model input (a list of
    [1, H_i, W_i, 3] arrays, preprocess.model_input). Pictures of the same size go through TF.js together."""
    by_shape: dict[tuple, list[int]] = {}
    for i, x in enumerate(inputs):
        by_shape.setdefault(x.shape[1:], []).append(i)
    out: list = [None] * len(inputs)
    for indices in by_shape.values():
        probs = predict_tfjs(model_dir, np.concatenate([inputs[i] for i in indices]), backend=backend)
        for i, p in zip(indices, probs):
            out[i] = p
    return np.stack(out) if out else np.zeros((0, 0), np.float32)
