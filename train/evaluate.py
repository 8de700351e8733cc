"""Scores from probabilities: accuracy, per-class precision/recall/F1, confusion matrix, and for two
classes ROC AUC and a decision threshold. Pure numpy/scikit-learn; used by training, the app and
the benchmarks alike."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

# scikit-learn is imported where a score is computed: every command's --help and the app's first page
# import this module (through train.config), and sklearn.metrics alone takes seconds to import.


def confusion(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted ones (every class, present or not)."""
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(np.asarray(y_true, int), np.asarray(y_pred, int), labels=list(range(num_classes)))


def scores_from_confusion(m: np.ndarray, class_names) -> dict:
    """Accuracy, balanced accuracy (mean recall of the classes present), macro F1 and per-class
    precision/recall/F1 of a confusion matrix (rows true, columns predicted), by scikit-learn."""
    from sklearn.metrics import precision_recall_fscore_support

    m = np.asarray(m, int)
    k = len(class_names)
    truth = np.repeat(np.repeat(np.arange(k), k), m.ravel())  # the (true, predicted) pairs the matrix counts
    guess = np.repeat(np.tile(np.arange(k), k), m.ravel())
    precision, recall, f1, support = precision_recall_fscore_support(truth, guess, labels=list(range(k)),
                                                                     zero_division=0)
    total = int(m.sum())
    present = support > 0
    return {
        "n": total,
        "accuracy": float(np.trace(m) / total) if total else float("nan"),
        "balanced_accuracy": float(recall[present].mean()) if present.any() else float("nan"),
        "macro_f1": float(f1[present].mean()) if present.any() else float("nan"),
        "per_class": {name: {"precision": float(precision[i]), "recall": float(recall[i]),
                             "f1": float(f1[i]), "support": int(support[i])}
                      for i, name in enumerate(class_names)},
        "confusion_matrix": m.tolist(),
    }


def predict_with_threshold(probs, positive: int, threshold: float) -> np.ndarray:
    """Two classes: positive when P(positive) >= threshold, else the other class."""
    return np.where(np.asarray(probs)[:, positive] >= threshold, positive, 1 - positive)


def choose_threshold(y_true, probs, positive: int) -> float:
    """The threshold on P(positive) with the best Youden J (TPR - FPR) on these labels; 0.5 when
    the labels hold a single class."""
    from sklearn.metrics import roc_curve

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
    from sklearn.metrics import roc_auc_score

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


def subset_scores(y_true, probs, class_names, keep) -> dict:
    """n, accuracy, balanced accuracy and confusion matrix of the pictures the boolean mask `keep` picks."""
    keep = np.asarray(keep, dtype=bool)
    if not keep.any():
        return {"n": 0}
    y_true, probs = np.asarray(y_true, dtype=int)[keep], np.asarray(probs, dtype=float)[keep]
    r = scores_from_confusion(confusion(y_true, probs.argmax(1), len(class_names)), class_names)
    return {k: r[k] for k in ("n", "accuracy", "balanced_accuracy", "confusion_matrix")}


def by_slice(paths, y_true, probs, class_names, slices: dict[str, str]) -> dict:
    """Scores on named subsets: the pictures whose path matches each regex (e.g. interiors only)."""
    return {name: {"pattern": pattern,
                   **subset_scores(y_true, probs, class_names, [re.search(pattern, str(p)) is not None for p in paths])}
            for name, pattern in slices.items()}


def curves(y_true, probs, positive: int) -> dict | None:
    """Two classes: the ROC and precision-recall curves of P(positive) and the ROC AUC, as lists (for the
    app to draw); None when the labels hold a single class."""
    from sklearn.metrics import precision_recall_curve, roc_auc_score, roc_curve

    truth = np.asarray(y_true) == positive
    if truth.all() or not truth.any():
        return None
    score = np.asarray(probs, dtype=float)[:, positive]
    fpr, tpr, thr = roc_curve(truth, score)
    prec, rec, pthr = precision_recall_curve(truth, score)
    return {"roc": {"false positive rate": fpr, "true positive rate": tpr, "threshold": np.minimum(thr, 1.0)},
            "pr": {"recall": rec, "precision": prec, "threshold": np.append(pthr, 1.0)},
            "roc_auc": float(roc_auc_score(truth, score))}
