"""Training of the `lite0` architecture: a linear head on frozen ImageNet features.

1. Features: every training picture is decoded once; the frozen network (`model.lite0_features`)
   describes the clean picture and `copies` augmented versions of it (data.augment_picture and
   data.augment_view: the same augmentation as the end-to-end models get).
2. Head: logistic regression (scikit-learn) on standardized features. Every class weighs the same, and
   inside a class every source (file-name prefix: one render studio, one photo collection) weighs as
   the square root of its size, so that a big collection does not become the definition of its class.
   Its regularization C is chosen by cross-validation that holds whole sources out (when each class
   has at least 3 sources; else whole groups): the C that generalizes to sources it has not seen.
3. Calibration and the "unsure" level (train/calibrate.py) on out-of-fold answers (every training
   picture, judged by a head that never saw its group) and on the validation pictures.
Standardization, head and calibration are affine maps: folded into the one Dense layer of the model.
"""
from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import numpy as np

from . import calibrate, files
from . import data as data_lib
from .evaluate import source_of
from .preprocess import Spec

C_GRID = (0.003, 0.01, 0.03, 0.1)  # inverse L2 strength on standardized features; chosen by CV
CV_FOLDS = 5


def embed(features_model, items, spec: Spec, failures, copies: int = 0, seed: int = 0, cache: dict | None = None):
    """Features of each item's picture: -> (kept items, array [n, 1 + copies, D]); view 0 is the clean
    picture exactly as prediction sees it, the others augmented. Unreadable files are recorded in
    `failures` and left out. `cache` (optional, {key: features}) keeps clean views between calls on
    the same pictures (the benchmarks train many folds)."""
    import tensorflow as tf

    from .model import compiled
    from .progress import Progress

    dim = int(features_model.output.shape[-1])
    if not items:
        return [], np.zeros((0, 1 + copies, dim), np.float32)
    run = compiled(features_model)
    key = lambda it: feature_key(it.path, spec)  # noqa: E731
    todo = [i for i, it in enumerate(items) if cache is None or copies or key(it) not in cache]
    found: dict[int, np.ndarray] = {}
    if todo:
        tf.random.set_seed(seed)
        ds = tf.data.Dataset.from_tensor_slices((data_lib.path_tensor([items[i].path for i in todo]),
                                                 tf.constant(todo, dtype=tf.int32)))
        bar = Progress("features", len(todo), quiet_below=50)
        for image, index in data_lib._decoded(ds, spec, failures).prefetch(4):
            bar.add()
            image = tf.cast(image, tf.uint8)  # whole 0-255 levels already (preprocess.normalize)
            views = [tf.cast(image, tf.float32)]
            for _ in range(copies):
                views.append(data_lib.augment_view(data_lib.augment_picture(image, spec.input_size)))
            found[int(index)] = np.stack([run(v[None]).numpy()[0] for v in views])
            if cache is not None:
                cache[key(items[int(index)])] = found[int(index)][:1]
        bar.close()
    kept, out = [], []
    for i, it in enumerate(items):
        f = found.get(i) if i in found else (cache.get(key(it)) if cache is not None and not copies else None)
        if f is not None:
            kept.append(it)
            out.append(f)
    return kept, (np.stack(out).astype(np.float32) if out else np.zeros((0, 1 + copies, dim), np.float32))


def feature_key(path: str, spec: Spec) -> str:
    """What a picture's features depend on: the file (path, size, modification time), the geometry and
    the pooling."""
    from .model import LITE0_FEATURES_VERSION

    try:
        st = os.stat(path)
        stamp = f"{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        stamp = "?"
    return f"{path}|{stamp}|{spec.view}|{spec.max_side}|{spec.input_size}|{LITE0_FEATURES_VERSION}"


def save_cache(cache: dict, path: Path) -> None:
    """The clean-picture features, for --resume and --init-from (float16: half the bytes, and far more
    precise than the head needs)."""
    keys = sorted(cache)
    with files.replacing(path, ".npz") as tmp:
        np.savez(tmp, keys=np.array(keys), features=np.stack([cache[k][0] for k in keys]).astype(np.float16)
                 if keys else np.zeros((0, 0), np.float16))


def load_cache(path: Path, strict: bool = False) -> dict:
    """{key: features [1, D]} saved by save_cache; {} when there is none (or it is unreadable), or with
    `strict` (a file the user named) a DataError naming the file."""
    try:
        with np.load(path) as d:
            return {str(k): f[None].astype(np.float32) for k, f in zip(d["keys"], d["features"])}
    except (OSError, ValueError, KeyError) as e:
        if strict:
            raise data_lib.DataError(f"{path}: not a features file written by `python -m train.features` "
                                     f"({type(e).__name__}: {str(e)[:120]})") from None
        return {}


def sample_weights(labels, sources) -> np.ndarray:
    """Each class the same total; inside a class each source ~ sqrt(its size); mean 1."""
    labels, sources = np.asarray(labels), np.asarray(sources)
    w = np.zeros(len(labels))
    for c in np.unique(labels):
        in_c = labels == c
        names, counts = np.unique(sources[in_c], return_counts=True)
        share = dict(zip(names, np.sqrt(counts) / np.sqrt(counts).sum()))  # of the class's weight
        size = dict(zip(names, counts))
        w[in_c] = [share[s] / size[s] for s in sources[in_c]]
    return w * len(w) / w.sum()


def _fit_lr(X, y, w, C, seed):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000, random_state=seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on tiny folds
        clf.fit(X, y, logisticregression__sample_weight=w)
    return clf


def affine_logits(clf, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """A fitted StandardScaler + LogisticRegression as kernel [D, C], bias [C] such that
    softmax(x @ kernel + bias) are its probabilities (two classes: logits [0, decision])."""
    scaler, lr = clf[0], clf[-1]
    coef, intercept = lr.coef_ / scaler.scale_, lr.intercept_ - (lr.coef_ * scaler.mean_ / scaler.scale_).sum(1)
    if num_classes == 2:
        kernel = np.stack([np.zeros(coef.shape[1]), coef[0]], axis=1)
        bias = np.array([0.0, intercept[0]])
    else:
        kernel, bias = coef.T, intercept
    return kernel, bias


def fit_streaming(batches, num_classes: int, C: float, max_iter: int = 2000, tol: float = 1e-7):
    """The head `_fit_lr` fits (StandardScaler, then L2 logistic regression at C with sample weights),
    without ever holding the features: `batches()` yields (X [m, D], labels [m], weights [m]) afresh for
    every pass (e.g. the chunk files of the features job, read from disk), and L-BFGS (scipy) minimizes
    the same strictly convex objective, C * sum(w * log loss) + |coef|^2 / 2 on standardized features,
    from its exact gradient summed batch by batch. Memory: one batch and a few [D, C] arrays; time: one
    pass per iteration. -> (kernel [D, C], bias [C]) as affine_logits gives them, and stats."""
    from scipy.optimize import minimize

    n, total, square = 0.0, None, None
    for X, _, _ in batches():  # StandardScaler's mean and (population) scale, in float64
        X = np.asarray(X, np.float64)
        total = X.sum(0) if total is None else total + X.sum(0)
        square = (X * X).sum(0) if square is None else square + (X * X).sum(0)
        n += len(X)
    mean = total / n
    scale = np.sqrt(np.maximum(square / n - mean * mean, 0.0))
    scale[scale < 10 * np.finfo(np.float64).eps] = 1.0  # as StandardScaler: a constant feature stays as it is
    d = len(mean)
    k = 1 if num_classes == 2 else num_classes  # two classes: one logit, as scikit-learn fits them
    passes = [0]

    def objective(theta):
        W, b = theta[:d * k].reshape(d, k), theta[d * k:]
        loss, gW, gb = 0.0, np.zeros((d, k)), np.zeros(k)
        for X, y, w in batches():
            Z = (np.asarray(X, np.float64) - mean) / scale
            logits = Z @ W + b
            y = np.asarray(y, int)
            if k == 1:
                z = logits[:, 0]
                loss += float(np.sum(w * (np.logaddexp(0.0, z) - (y == 1) * z)))
                r = (w * (1.0 / (1.0 + np.exp(-z)) - (y == 1)))[:, None]
            else:
                top = logits.max(1, keepdims=True)
                e = np.exp(logits - top)
                loss += float(np.sum(w * (np.log(e.sum(1)) + top[:, 0] - logits[np.arange(len(y)), y])))
                P = e / e.sum(1, keepdims=True)
                P[np.arange(len(y)), y] -= 1.0
                r = w[:, None] * P
            gW += Z.T @ r
            gb += r.sum(0)
        passes[0] += 1
        value = C * loss + 0.5 * float(np.sum(W * W))
        return value, np.concatenate([(C * gW + W).ravel(), C * gb])

    result = minimize(objective, np.zeros(d * k + k), jac=True, method="L-BFGS-B",
                      options={"maxiter": max_iter, "gtol": tol, "ftol": 0.0})
    W, b = result.x[:d * k].reshape(d, k), result.x[d * k:]
    coef = (W / scale[:, None]).T  # [k, D] on raw features, as affine_logits folds the scaler
    intercept = b - (W * (mean / scale)[:, None]).sum(0)
    if k == 1:
        kernel, bias = np.stack([np.zeros(d), coef[0]], axis=1), np.array([0.0, intercept[0]])
    else:
        kernel, bias = coef.T, intercept
    return kernel, bias, {"iterations": int(result.nit), "passes": passes[0], "converged": bool(result.success),
                          "pictures": int(n)}


def cv_folds(labels, groups, seed: int):
    """StratifiedGroupKFold splits (as many folds as the rarest class allows, up to CV_FOLDS), or []."""
    from sklearn.model_selection import StratifiedGroupKFold

    labels = np.asarray(labels)
    per_class_groups = min(len(set(np.asarray(groups)[labels == c])) for c in np.unique(labels))
    k = min(CV_FOLDS, per_class_groups)
    if k < 2:
        return []
    return list(StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(labels, labels, groups))


def out_of_fold_logits(X, labels, weights, folds, C, num_classes: int, seed: int) -> np.ndarray:
    """Logits of each picture's clean view from a head fitted without its fold (every view trains)."""
    n, v, d = X.shape
    oof = np.zeros((n, num_classes))
    for tr, te in folds:
        clf = _fit_lr(X[tr].reshape(-1, d), np.repeat(labels[tr], v), np.repeat(weights[tr], v), C, seed)
        k, b = affine_logits(clf, num_classes)
        oof[te] = X[te, 0] @ k + b
    return oof


def fit_head(X, labels, c_groups, cal_groups, weights, num_classes: int, seed: int = 0):
    """X [n, views, D] (view 0 clean). C by cross-validation over `c_groups` (the class-balanced log
    loss of the clean views); out-of-fold logits at that C over `cal_groups` for the calibration.
    -> (kernel, bias, out-of-fold logits [n, C] or None, stats)."""
    from sklearn.metrics import log_loss

    labels = np.asarray(labels)
    n, v, d = X.shape
    folds = cv_folds(labels, c_groups, seed)
    balance = np.array([1.0 / np.mean(labels == c) for c in labels])
    scores = {}
    for C in (C_GRID if folds else ()):
        p = calibrate.softmax(out_of_fold_logits(X, labels, weights, folds, C, num_classes, seed))
        scores[C] = float(log_loss(labels, p, sample_weight=balance, labels=list(range(num_classes))))
    best = min(scores, key=scores.get) if scores else C_GRID[1]
    cal_folds = cv_folds(labels, cal_groups, seed)
    oof = out_of_fold_logits(X, labels, weights, cal_folds, best, num_classes, seed) if cal_folds else None
    clf = _fit_lr(X.reshape(-1, d), np.repeat(labels, v), np.repeat(weights, v), best, seed)
    kernel, bias = affine_logits(clf, num_classes)
    stats = {"C": best, "cv_folds": len(folds), "cv_balanced_log_loss": scores, "calibration_folds": len(cal_folds)}
    return kernel, bias, oof, stats


def held_out_units(sources, labels, groups, num_classes: int, calibrate_holding_out: str = "groups"):
    """What the head's cross-validation holds out: -> (units for choosing C, units for the calibration
    and the unsure level, what each is in words).
    C: whole sources when every class has at least 3 (the C that carries to sources never seen), else
    whole groups. Calibration: whole groups by default (new houses and projects of the kinds trained
    on); with "sources" (and 3 sources a class) whole sources, so the unsure level allows for a source
    never seen (benchmarks.sources: right more often when sure, answering less often)."""
    by_source = all(len({s for s, y in zip(sources, labels) if y == c}) >= 3 for c in range(num_classes))
    per_source = [f"{s}/{y}" for s, y in zip(sources, labels)]
    c_units = per_source if by_source else list(groups)
    cal_by_source = by_source and calibrate_holding_out == "sources"
    return c_units, (per_source if cal_by_source else list(groups)), {
        "c_chosen_holding_out": "sources" if by_source else "groups",
        "calibrated_holding_out": "sources" if cal_by_source else "groups"}


def fit(config, spec: Spec, items, failures, cache: dict | None = None, save_cache=None):
    """Features, head, calibration; -> (Keras model with the folded head, stats, calibrated
    probabilities and labels of the held-out pictures the calibration saw). See the module docstring."""
    import keras

    from . import model as model_lib

    keras.utils.set_random_seed(config.seed)
    num_classes = len(spec.class_names)
    features = model_lib.lite0_features()
    train = [it for it in items if it.split == "train"]
    val = [it for it in items if it.split == "val"]
    copies = config.copies
    print(f"model: lite0 (frozen ImageNet EfficientNet-Lite0, {features.count_params():,} parameters; "
          f"{int(features.output.shape[-1])} pooled features), whole picture, longer side <= {spec.max_side} px; "
          f"features of {len(train)} training pictures x {1 + copies} views and {len(val)} validation pictures ...",
          flush=True)
    t0 = time.time()
    reused = sum(feature_key(it.path, spec) in cache for it in train + val) if cache is not None else 0
    train, X = embed(features, train, spec, failures, copies=copies, seed=config.seed, cache=cache)
    val, Xv = embed(features, val, spec, failures, cache=cache)
    embed_seconds = time.time() - t0
    if save_cache is not None and cache is not None:
        save_cache(cache)
    labels = np.array([it.label for it in train])
    if len(np.unique(labels)) < num_classes:
        raise data_lib.DataError("the training split lacks a class after unreadable files were skipped")
    sources = [source_of(it.path, config.source_pattern) for it in train]
    weights = sample_weights(labels, sources)
    groups = [f"{data_lib.group_key(it.rel, config.group_pattern)}/{it.label}" for it in train]
    c_groups, cal_groups, held = held_out_units(sources, labels, groups, num_classes, config.calibrate_holding_out)
    t1 = time.time()
    kernel, bias, oof, head_stats = fit_head(X, labels, c_groups, cal_groups, weights, num_classes, config.seed)
    # Calibration data: out-of-fold answers for training pictures, and the validation pictures.
    cal_logits = [Xv[:, 0] @ kernel + bias] if len(val) else []
    cal_labels = [np.array([it.label for it in val])] if len(val) else []
    if oof is not None:
        cal_logits.insert(0, oof)
        cal_labels.insert(0, labels)
    cal_logits = np.concatenate(cal_logits) if cal_logits else np.zeros((0, num_classes))
    cal_labels = np.concatenate(cal_labels) if cal_labels else np.zeros(0, int)
    a, c = calibrate.fit_calibration(cal_logits, cal_labels, num_classes)
    model = model_lib.with_linear_head(features, *calibrate.fold(kernel, bias, a, c))
    seconds = time.time() - t0
    head_stats.update(held)
    stats = {"seconds": seconds, "embed_s": round(embed_seconds, 2), "head_s": round(time.time() - t1, 2),
             "views_per_picture": 1 + copies, "head": head_stats,
             "images_per_s": (round((len(train) + len(val) - reused) * (1 + copies) / embed_seconds, 1)
                              if len(train) + len(val) > reused and embed_seconds > 0 else None),
             "calibration_pictures": int(len(cal_labels)), "features_reused": int(reused)}
    return model, stats, (calibrate.softmax(calibrate.apply(cal_logits, a, c)), cal_labels)
