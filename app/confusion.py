"""Confusion & examples: the confusion matrix (a click picks a cell) and the pictures in each cell."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from train.evaluate import confusion, scores_from_confusion

from app.charts import confusion_chart
from app.formatting import pct, prob_line
from app.pictures import gallery
from app.run import Run, SPLITS, labels_and_probs


def _pick_cell(split: str) -> None:
    """Click on the confusion matrix -> the cell's selectboxes."""
    state = st.session_state.get(f"cm_chart_{split}")
    picked = state.selection.get("cell") if state is not None else None
    if isinstance(picked, dict):
        picked = [picked]
    if picked and "true_class" in picked[0] and "predicted_class" in picked[0]:
        st.session_state["cm_true"] = picked[0]["true_class"]
        st.session_state["cm_pred"] = picked[0]["predicted_class"]


def section_confusion(run: Run) -> None:
    classes = run.classes
    st.header(f"Confusion matrix and examples: {run.id}")
    split = st.radio("Pictures of", list(SPLITS), format_func=SPLITS.get, horizontal=True, key="cm_split")
    rows = run.split_rows(split)
    if rows.empty:
        st.info(f"No {SPLITS[split]} pictures in this run.")
        return
    y, probs = labels_and_probs(rows, classes)
    pred = rows["predicted_class"].map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=int)
    cm = confusion(y, pred, len(classes))
    # Default cell: the biggest mistake cell (the diagonal's first cell when there is no mistake).
    off = [(cm[i, j], i, j) for i in range(len(classes)) for j in range(len(classes)) if i != j and cm[i, j]]
    _, ti, pj = max(off) if off else (0, 0, 0)
    if st.session_state.get("cm_true") not in classes:
        st.session_state["cm_true"] = classes[ti]
    if st.session_state.get("cm_pred") not in classes:
        st.session_state["cm_pred"] = classes[pj]

    left, right = st.columns([3, 2])
    with left:
        chosen = (st.session_state["cm_true"], st.session_state["cm_pred"])
        st.altair_chart(confusion_chart(cm, classes, selectable=True, chosen=chosen), width="content",
                        key=f"cm_chart_{split}", on_select=lambda: _pick_cell(split), selection_mode="cell")
        st.caption(f"{len(rows)} {SPLITS[split]} pictures, each predicted as its most probable class (argmax; "
                   "the Threshold section shows a two-class threshold). Click a cell to see its pictures.")
    with right:
        t = st.selectbox("True class", classes, key="cm_true")
        p = st.selectbox("Predicted class", classes, key="cm_pred")
        order = st.radio("Order", ["most confident first", "least confident first"], key="cm_order",
                         help="confidence = the probability of the predicted class")
        votes = st.toggle("Where it looked (vote map)", key="cm_votes",
                          help="over what the model saw, each region's own answer: a crops model's crop votes, "
                               "or the model on 3 × 3 tiles; the page's cards show the same")
        sc = scores_from_confusion(cm, classes)
        st.dataframe(pd.DataFrame(cm, index=pd.Index(classes, name="true \\ predicted"), columns=classes))
        st.caption(f"accuracy {pct(sc['accuracy'])} on these pictures")

    cell = rows[(rows["true_class"] == t) & (rows["predicted_class"] == p)].copy()
    cell["confidence"] = cell[f"p_{p}"]
    # By path, then stably by confidence (not both at once: see app/compare.py).
    cell = cell.sort_values("path").sort_values("confidence", ascending=order == "least confident first", kind="stable")
    kind = "correct" if t == p else "mistakes"
    st.subheader(f"True {t}, predicted {p} ({kind}): {len(cell)} pictures")
    if t != p and order == "most confident first":
        st.caption("Confident mistakes first.")
    gallery(run, cell, lambda rec: [f"P({p}) = {rec['confidence']:.3f}", prob_line(rec, classes)], key="cm",
            votes=votes)
