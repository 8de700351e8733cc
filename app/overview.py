"""Overview: the run's scores, data, training curves and sizes (all read from metrics.json)."""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from app.charts import training_curves
from app.formatting import human_bytes, human_seconds, is_num, num3, pct
from app.run import DEMO_NOTE, Run, SPLITS, report


def section_overview(run: Run) -> None:
    m = run.metrics
    st.header(f"Overview: {run.id}")
    data = m.get("data") or {}
    st.caption(f"architecture **{run.arch}** · created {m.get('created', '?')} · data `{data.get('root', '?')}` · "
               f"command `{m.get('command', '?')}`")
    if data.get("synthetic"):
        st.info(DEMO_NOTE)

    split = st.radio("Scores on", list(SPLITS), format_func=SPLITS.get, horizontal=True, key="overview_split")
    r = report(run, split)
    if not r:
        st.info(f"No {SPLITS[split]} pictures in this run.")
    else:
        cols = st.columns(4)
        cols[0].metric("Accuracy", pct(r.get("accuracy")),
                       help=f"the share of the {r.get('n', '?')} pictures whose most probable class is the true one")
        cols[1].metric("Balanced accuracy", pct(r.get("balanced_accuracy")),
                       help="the mean of the per-class recalls: every class counts the same, however many "
                            "pictures it has (50% is chance for two classes)")
        cols[2].metric("Macro F1", num3(r.get("macro_f1")),
                       help="the mean over classes of F1 (the harmonic mean of precision and recall): low when "
                            "any class is often missed or often wrongly given")
        cols[3].metric("ROC AUC", num3(r.get("roc_auc")) if "roc_auc" in r else "–",
                       help=(f"the chance that a random {m.get('positive_class')} picture gets a higher "
                             f"P({m.get('positive_class')}) than a random other one, whatever the threshold "
                             "(0.5 is chance)") if m.get("positive_class") else "two-class runs only")
        per_class = r.get("per_class") or {}
        if per_class:
            table = pd.DataFrame.from_dict(per_class, orient="index")
            table.index.name = "class"
            st.dataframe(table, column_config={
                "precision": st.column_config.NumberColumn(format="%.3f"),
                "recall": st.column_config.NumberColumn(format="%.3f"),
                "f1": st.column_config.NumberColumn("F1", format="%.3f"),
                "support": st.column_config.NumberColumn(format="%d")})
        at = r.get("at_threshold")
        if isinstance(at, dict) and is_num(at.get("threshold")):
            st.caption(f"At the run's threshold, P({m.get('positive_class')}) ≥ {at['threshold']:.3f}: accuracy "
                       f"{pct(at.get('accuracy'))}, balanced accuracy {pct(at.get('balanced_accuracy'))}. "
                       "The Threshold section moves it.")
        sure = r.get("when_sure")
        if isinstance(sure, dict) and is_num(sure.get("unsure_below")):
            target = (m.get("unsure") or {}).get("target")  # the accuracy the level was chosen for (calibrate.py)
            chosen = (f", chosen for ≥ {target:.0%} right answers on pictures the model was not trained on"
                      if is_num(target) else "")
            st.markdown(f"**When sure** (largest probability ≥ {sure['unsure_below']:.3f}{chosen}): answers "
                        f"{pct(sure.get('coverage'))} of "
                        f"the pictures, {pct(sure.get('accuracy'))} of them right; the rest are \"unsure\".")
        sources = r.get("by_source")
        if isinstance(sources, dict) and sources:
            st.markdown("**Accuracy per source** (file-name prefix): a good overall score can hide a source "
                        "the model gets wrong.")
            table = pd.DataFrame([{"source": k, "pictures": v.get("n"), "accuracy": v.get("accuracy")}
                                  for k, v in sources.items() if isinstance(v, dict)]).set_index("source")
            st.dataframe(table, column_config={"accuracy": st.column_config.NumberColumn(format="percent")})
        slices = r.get("slices")
        if isinstance(slices, dict) and slices:
            st.markdown("**Named slices** (`--slice NAME=REGEX` on the picture paths, e.g. interiors only).")
            table = pd.DataFrame([{"slice": k, "pattern": v.get("pattern"), "pictures": v.get("n"),
                                   "accuracy": v.get("accuracy"), "balanced accuracy": v.get("balanced_accuracy")}
                                  for k, v in slices.items() if isinstance(v, dict)]).set_index("slice")
            st.dataframe(table, column_config={
                "accuracy": st.column_config.NumberColumn(format="percent"),
                "balanced accuracy": st.column_config.NumberColumn(format="percent")})
        known = {"n", "accuracy", "balanced_accuracy", "macro_f1", "per_class", "confusion_matrix", "roc_auc",
                 "at_threshold", "by_source", "slices", "when_sure"}
        extra = {k: v for k, v in r.items() if k not in known}
        if extra:
            with st.expander(f"More scores ({', '.join(extra)})"):
                st.json(extra)

    st.subheader("Data")
    counts = data.get("counts") or {}
    if counts:
        table = pd.DataFrame.from_dict(counts, orient="index").reindex(columns=run.classes).fillna(0).astype(int)
        table.index.name = "split"
        table["total"] = table.sum(axis=1)
        table.loc["total"] = table.sum(axis=0)
        st.dataframe(table)
    notes = []
    if data.get("skipped_count"):
        notes.append(f"{data['skipped_count']} unreadable files skipped (listed in metrics.json)")
    if data.get("class_weights"):
        notes.append("class weights: " + ", ".join(f"{k} {v:.2f}" for k, v in data["class_weights"].items()))
    if notes:
        st.caption(" · ".join(notes))

    st.subheader("Model")
    model = m.get("model") or {}
    sizes = model.get("bytes") or {}
    served = model.get("served_tfjs", "tfjs")
    timings = m.get("timings") or {}
    cols = st.columns(4)
    cols[0].metric("Parameters", f"{model['params']:,}" if is_num(model.get("params")) else "–",
                   help="the numbers in the model, frozen and trained alike")
    cols[1].metric("Keras model", human_bytes(sizes.get("model.keras")),
                   help="`model.keras`, the float32 model that training, train.predict and this app run")
    cols[2].metric("TF.js bundle", human_bytes(sizes.get(served)), help=f"`{served}/`, what the static page loads")
    cols[3].metric("Training time", human_seconds(timings.get("train_s")),
                   help=f"fitting the model (lite0: its features and head); the whole run took "
                        f"{human_seconds(timings.get('total_s'))}")
    head = (m.get("training") or {}).get("head")
    training = (f"{m.get('epochs_run', '?')} epochs, best epoch {m.get('best_epoch', '?')}" if not head
                else "no epochs (a linear head fitted in one pass)")
    st.caption(f"{training} · {timings.get('train_images_per_s', '?')} pictures/s in training · sizes: "
               + ", ".join(f"`{k}` {human_bytes(v)}" for k, v in sizes.items()))

    if isinstance(head, dict):
        head_fit(m["training"], head)
    else:
        st.subheader("Training curves")
    charts = training_curves(m.get("history") or {}, m.get("best_epoch"))
    if not charts and not head:
        st.info("No training history in metrics.json.")
    cols = st.columns(2)
    for i, (_, chart) in enumerate(charts):
        with cols[i % 2]:
            st.altair_chart(chart, width="stretch")
    with st.expander("Everything in metrics.json"):
        st.json(m, expanded=False)


def head_fit(training: dict, head: dict) -> None:
    """What a lite0 run has instead of epochs (train/lite0_head.py): frozen features, a linear head fitted
    by logistic regression with its regularization C chosen by cross-validation, then a calibration."""
    st.subheader("The head's fit")
    held = {"sources": "whole sources (file-name prefixes)", "groups": "whole groups (houses, projects)"}.get(
        head.get("c_chosen_holding_out"), "pictures")
    st.markdown(
        f"No epochs and no training curves: the backbone is frozen, its features of every picture are computed "
        f"once ({human_seconds(training.get('embed_s'))}), and a linear head is fitted on them by logistic "
        f"regression in one pass ({human_seconds(training.get('head_s'))}). Its regularization, "
        f"**C = {head.get('C', '?')}**, is the one with the lowest balanced log loss in "
        f"{head.get('cv_folds', '?')}-fold cross-validation holding out {held}; the probabilities are then "
        f"calibrated on {training.get('calibration_pictures', '?')} pictures the head did not see.")
    losses = head.get("cv_balanced_log_loss")
    if isinstance(losses, dict) and losses:
        table = pd.DataFrame({"C": [float(c) for c in losses], "balanced log loss": list(losses.values())})
        st.altair_chart(alt.Chart(table).mark_line(point=True).encode(
            x=alt.X("C:Q", scale=alt.Scale(type="log"), title="C (larger: less regularized)"),
            y=alt.Y("balanced log loss:Q", scale=alt.Scale(zero=False)),
            tooltip=["C:Q", alt.Tooltip("balanced log loss:Q", format=".4f")]).properties(
            title="Cross-validated loss per C (lower is better)", height=220), width="stretch")
