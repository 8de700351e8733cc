"""Threshold: the decision threshold of a two-class run, its confusion matrix, ROC and precision-recall."""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from train.evaluate import confusion, curves, predict_with_threshold, scores_from_confusion

from app.charts import confusion_chart, curve_chart
from app.formatting import is_num, pct
from app.run import Run, SPLITS, labels_and_probs


def section_threshold(run: Run) -> None:
    classes = run.classes
    m = run.metrics
    st.header(f"Threshold: {run.id}")
    if len(classes) != 2:
        st.info(f"A decision threshold applies to two-class runs; this run has {len(classes)} classes "
                f"({', '.join(classes)}) and predicts the most probable one.")
        return
    default_pos = m.get("positive_class") if m.get("positive_class") in classes else classes[1]
    c1, c2 = st.columns(2)
    split = c1.radio("Pictures of", list(SPLITS), format_func=SPLITS.get, horizontal=True, key="thr_split")
    pos = c2.selectbox("Positive class", classes, index=classes.index(default_pos), key="thr_pos")
    positive = classes.index(pos)
    run_t = m.get("threshold")
    if is_num(run_t) and pos != default_pos:
        run_t = 1.0 - run_t  # the same decision, said about the other class
    run_t = float(run_t) if is_num(run_t) else 0.5
    # Starts exactly at the run's threshold (not rounded to the step): the page opens on the run's own decisions.
    t = st.slider(f"Threshold on P({pos})", 0.0, 1.0, value=run_t, step=0.001, format="%.3f", key=f"thr_value_{pos}",
                  help=f"a picture is called {pos} when P({pos}) ≥ threshold; the run's own threshold "
                       f"(chosen on the validation split) is {run_t:.3f}")
    rows = run.split_rows(split)
    if rows.empty:
        st.info(f"No {SPLITS[split]} pictures in this run.")
        return
    y, probs = labels_and_probs(rows, classes)

    def at(threshold):
        cm = confusion(y, predict_with_threshold(probs, positive, threshold), 2)
        return cm, scores_from_confusion(cm, classes)

    cm, sc = at(t)
    _, ref = at(run_t)
    mine, theirs = sc["per_class"][pos], ref["per_class"][pos]

    def change(x: float, digits: int, unit: str = "") -> str | None:
        """The delta shown: none where the slider changes nothing the figure shows (no "↑ +0.000")."""
        return f"{x:+.{digits}f}{unit}" if round(x, digits) != 0 else None

    # Short labels (the class is said once, above) so that four narrow columns never cut them.
    st.caption(f"Scores for {pos} at the slider, against the run's own threshold:")
    cols = st.columns(4)
    helps = {"precision": f"of the pictures called {pos}, the share that are {pos}",
             "recall": f"of the {pos} pictures, the share called {pos}",
             "f1": "the harmonic mean of precision and recall"}
    for col, (name, key) in zip(cols, [("Precision", "precision"), ("Recall", "recall"), ("F1", "f1")]):
        col.metric(name, f"{mine[key]:.3f}", delta=change(mine[key] - theirs[key], 3),
                   delta_description="vs the run's threshold", help=helps[key])
    cols[3].metric("Accuracy", pct(sc["accuracy"]), delta=change((sc["accuracy"] - ref["accuracy"]) * 100, 1, " pts"),
                   delta_description="vs the run's threshold", help="the share of all pictures called right")

    left, right = st.columns([2, 3])
    with left:
        st.altair_chart(confusion_chart(cm, classes), width="content")
        st.dataframe(pd.DataFrame(cm, index=pd.Index(classes, name="true \\ predicted"), columns=classes))
        st.caption(f"{len(rows)} {SPLITS[split]} pictures at P({pos}) ≥ {t:.3f}")
    with right:
        hist = pd.DataFrame({f"P({pos})": probs[:, positive], "true class": rows["true_class"].to_numpy()})
        bars = alt.Chart(hist).mark_bar(opacity=0.6).encode(
            x=alt.X(f"P({pos}):Q", bin=alt.Bin(extent=[0, 1], step=0.05), title=f"P({pos})"),
            y=alt.Y("count():Q", stack=None, title="pictures"),
            color=alt.Color("true class:N", sort=classes))
        rule = alt.Chart(pd.DataFrame({"t": [t]})).mark_rule(color="#e45756", strokeWidth=2).encode(x="t:Q")
        st.altair_chart((bars + rule).properties(title=f"P({pos}) by true class; red: the slider", height=260),
                        width="stretch")

    found = curves(y, probs, positive)
    if found is None:
        st.info(f"The {SPLITS[split]} pictures hold a single class: no ROC or precision-recall curve.")
        return
    roc, pr = pd.DataFrame(found["roc"]), pd.DataFrame(found["pr"])

    def point(name, threshold, s, matrix):
        tn, fp = matrix[1 - positive, 1 - positive], matrix[1 - positive, positive]
        return {"point": name, "threshold": threshold, "false positive rate": fp / (fp + tn) if fp + tn else 0.0,
                "true positive rate": s["per_class"][pos]["recall"], "recall": s["per_class"][pos]["recall"],
                "precision": s["per_class"][pos]["precision"]}

    here = pd.DataFrame([point("slider", t, sc, cm), point("run's threshold", run_t, ref, at(run_t)[0])])
    c1, c2 = st.columns(2)
    with c1:
        st.altair_chart(curve_chart(roc, "false positive rate", "true positive rate", here,
                                    f"ROC (AUC {found['roc_auc']:.3f})", diagonal=True), width="stretch")
    with c2:
        st.altair_chart(curve_chart(pr, "recall", "precision", here, f"Precision-recall ({pos})", diagonal=False),
                        width="stretch")
