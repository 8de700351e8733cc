"""Honest probabilities and the "unsure" answer, for every architecture.

- Calibration: a vector scaling of the model's (centred) logits, fitted by logistic regression with the
  classes balanced on pictures the model was not trained on. Folded into the model's last Dense layer,
  so the exported model itself answers with calibrated probabilities and its argmax is the balanced
  decision (the two-class threshold is then 0.5 for everyone: train.predict, the page, the app).
- Unsure: below the confidence (largest probability) chosen here on those held-out pictures, the answer
  is "unsure" instead of a class: the lowest confidence at which the answers given are right at least
  SURE_ACCURACY of the time, i.e. the most pictures answered for that accuracy.
"""
from __future__ import annotations

import numpy as np

SURE_ACCURACY = 0.97


def centred(logits) -> np.ndarray:
    """Logits minus their mean: the same softmax, and the same numbers whatever constant was added."""
    z = np.asarray(logits, np.float64)
    return z - z.mean(axis=1, keepdims=True)


def fit_calibration(logits, labels, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """-> (A [C, C], c [C]): calibrated logits = centred(logits) @ A + c. Identity when the labels
    hold fewer than two classes (nothing to fit on)."""
    from sklearn.linear_model import LogisticRegression

    labels = np.asarray(labels)
    if len(logits) == 0 or len(np.unique(labels)) < 2:
        return np.eye(num_classes), np.zeros(num_classes)
    lr = LogisticRegression(C=100.0, class_weight="balanced", max_iter=5000)
    lr.fit(centred(logits), labels)
    if num_classes == 2:
        a = np.zeros((2, 2))
        a[:, 1] = lr.coef_[0]
        return a, np.array([0.0, lr.intercept_[0]])
    if len(lr.classes_) < num_classes:  # a class absent from the held-out pictures: leave as is
        return np.eye(num_classes), np.zeros(num_classes)
    return lr.coef_.T, lr.intercept_


def softmax(z) -> np.ndarray:
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def apply(logits, a, c) -> np.ndarray:
    return centred(logits) @ a + c


def fold(kernel, bias, a, c) -> tuple[np.ndarray, np.ndarray]:
    """The Dense layer (kernel [D, C], bias [C]) whose logits are the calibrated ones."""
    k = np.asarray(kernel, np.float64)
    b = np.asarray(bias, np.float64)
    kc = k - k.mean(axis=1, keepdims=True)
    bc = b - b.mean()
    return (kc @ a).astype(np.float32), (bc @ a + c).astype(np.float32)


def fold_into_last_dense(model, a, c) -> None:
    """Calibrate a Keras model whose output is a softmax Dense layer named "probabilities", in place."""
    layer = model.get_layer("probabilities")
    kernel, bias = layer.get_weights()
    layer.set_weights(list(fold(kernel, bias, a, c)))


def unsure_level(probs, labels, target: float = SURE_ACCURACY) -> dict:
    """The confidence below which to answer "unsure": the lowest one at which the remaining answers
    are right >= target of the time. -> {"unsure_below", "coverage", "accuracy_when_sure", "target",
    "pictures"}; unsure_below is None (always answer) when every answer already meets the target, and
    1.0 (never sure) when no confidence level reaches it."""
    probs, labels = np.asarray(probs, np.float64), np.asarray(labels)
    out = {"target": target, "pictures": int(len(labels))}
    if not len(labels):
        return {**out, "unsure_below": None, "coverage": None, "accuracy_when_sure": None}
    conf = probs.max(axis=1)
    right = probs.argmax(axis=1) == labels
    order = np.argsort(-conf, kind="stable")
    right_sorted, conf_sorted = right[order], conf[order]
    accuracy_top_k = np.cumsum(right_sorted) / np.arange(1, len(right) + 1)
    # Answering the k most confident pictures; a level can only sit where the confidence changes.
    ok = [k for k in range(1, len(right) + 1)
          if accuracy_top_k[k - 1] >= target and (k == len(right) or conf_sorted[k] < conf_sorted[k - 1])]
    if not ok:
        return {**out, "unsure_below": 1.0, "coverage": 0.0, "accuracy_when_sure": None}
    k = max(ok)
    level = None if k == len(right) else float((conf_sorted[k - 1] + conf_sorted[k]) / 2)
    return {**out, "unsure_below": level, "coverage": k / len(right), "accuracy_when_sure": float(accuracy_top_k[k - 1])}
