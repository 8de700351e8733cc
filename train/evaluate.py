"""Scores from probabilities: accuracy, per-class precision/recall/F1, confusion matrix, and for two
classes ROC AUC and a decision threshold. Pure numpy/scikit-learn; used by training, the app and
the benchmarks alike."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve


def confusion(y_true, y_pred, num_classes: int) -> np.ndarray:
    m = np.zeros((num_classes, num_classes), dtype=int)
    np.add.at(m, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return m


def scores_from_confusion(m: np.ndarray, class_names) -> dict:
    """Rows are true classes, columns predicted ones."""
    m = np.asarray(m)
    tp = np.diag(m).astype(float)
    support = m.sum(axis=1)
    predicted = m.sum(axis=0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp),
                   where=(precision + recall) > 0)
    total = m.sum()
    present = support > 0
    return {
        "n": int(total),
        "accuracy": float(tp.sum() / total) if total else float("nan"),
        "balanced_accuracy": float(recall[present].mean()) if present.any() else float("nan"),
        "macro_f1": float(f1[present].mean()) if present.any() else float("nan"),
        "per_class": {name: {"precision": float(precision[i]), "recall": float(recall[i]),
                             "f1": float(f1[i]), "support": int(support[i])}
                      for i, name in enumerate(class_names)},
        "confusion_matrix": m.astype(int).tolist(),
    }


def predict_with_threshold(probs, positive: int, threshold: float) -> np.ndarray:
    """Two classes: positive when P(positive) >= threshold, else the other class."""
    return np.where(np.asarray(probs)[:, positive] >= threshold, positive, 1 - positive)


def choose_threshold(y_true, probs, positive: int) -> float:
    """The threshold on P(positive) with the best Youden J (TPR - FPR) on these labels; 0.5 when
    the labels hold a single class."""
    y = np.asarray(y_true) == positive
    if y.all() or not y.any():
        return 0.5
    fpr, tpr, thresholds = roc_curve(y, np.asarray(probs)[:, positive])
    best = int(np.argmax(tpr - fpr))
    return float(min(max(thresholds[best], 0.0), 1.0))


def when_sure(y_true, probs, unsure_below: float | None) -> dict:
    """Coverage (share of pictures given a class rather than "unsure") and accuracy on those."""
    probs = np.asarray(probs, dtype=float)
    sure = np.ones(len(probs), bool) if unsure_below is None else probs.max(axis=1) >= unsure_below
    right = probs.argmax(axis=1) == np.asarray(y_true, dtype=int)
    return {"unsure_below": unsure_below, "n_sure": int(sure.sum()),
            "coverage": float(sure.mean()) if len(sure) else float("nan"),
            "accuracy": float(right[sure].mean()) if sure.any() else float("nan")}


def evaluate(y_true, probs, class_names, positive: int | None = None, threshold: float | None = None,
             unsure_below: float | None = None) -> dict:
    """Scores of argmax predictions; for two classes also ROC AUC and the scores at `threshold`; and
    the coverage and accuracy of the answers given when unsure ones are held back."""
    y_true = np.asarray(y_true, dtype=int)
    probs = np.asarray(probs, dtype=float)
    k = len(class_names)
    report = scores_from_confusion(confusion(y_true, probs.argmax(axis=1), k), class_names)
    if k == 2 and positive is not None:
        y = y_true == positive
        report["roc_auc"] = float(roc_auc_score(y, probs[:, positive])) if 0 < y.sum() < len(y) else None
        if threshold is not None:
            at = scores_from_confusion(confusion(y_true, predict_with_threshold(probs, positive, threshold), k),
                                       class_names)
            report["at_threshold"] = {"threshold": threshold, **at}
    report["when_sure"] = when_sure(y_true, probs, unsure_below)
    return report


SOURCE_PATTERN = r"^([^_]+)_"  # a picture's source: the text before the first '_' of its file name


def source_of(path, source_pattern: str = SOURCE_PATTERN) -> str:
    """The part of the file name the pattern picks (first group, else the whole match), e.g. the
    'houses' in houses_12_kitchen.jpg; "(other)" when it does not match."""
    m = re.search(source_pattern, Path(path).name)
    return (m.group(1) if m.groups() else m.group(0)) if m else "(other)"


def by_source(paths, y_true, probs, source_pattern: str = SOURCE_PATTERN) -> dict:
    """Accuracy per source (`source_of`). A good overall score can hide a source the model gets wrong."""
    y_pred = np.asarray(probs).argmax(axis=1)
    groups: dict[str, list[bool]] = {}
    for path, t, p in zip(paths, y_true, y_pred):
        groups.setdefault(source_of(path, source_pattern), []).append(int(t) == int(p))
    return {k: {"n": len(v), "accuracy": float(np.mean(v))} for k, v in sorted(groups.items())}


def by_slice(paths, y_true, probs, class_names, slices: dict[str, str]) -> dict:
    """Scores on named subsets: the pictures whose path matches each regex (e.g. interiors only)."""
    out = {}
    y_true = np.asarray(y_true, dtype=int)
    probs = np.asarray(probs, dtype=float)
    for name, pattern in slices.items():
        keep = np.array([re.search(pattern, str(p)) is not None for p in paths], dtype=bool)
        if not keep.any():
            out[name] = {"pattern": pattern, "n": 0}
            continue
        r = scores_from_confusion(confusion(y_true[keep], probs[keep].argmax(1), len(class_names)), class_names)
        out[name] = {"pattern": pattern, "n": r["n"], "accuracy": r["accuracy"],
                     "balanced_accuracy": r["balanced_accuracy"], "confusion_matrix": r["confusion_matrix"]}
    return out
