"""Overview: the run's scores, data, training curves and sizes (all read from metrics.json)."""
from __future__ import annotations

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
        cols[0].metric("Accuracy", pct(r.get("accuracy")), help=f"argmax decision, {r.get('n', '?')} pictures")
        cols[1].metric("Balanced accuracy", pct(r.get("balanced_accuracy")))
        cols[2].metric("Macro F1", num3(r.get("macro_f1")))
        cols[3].metric("ROC AUC", num3(r.get("roc_auc")) if "roc_auc" in r else "–",
                       help=f"P({m.get('positive_class')}) ranks the pictures" if m.get("positive_class") else None)
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
    cols[0].metric("Parameters", f"{model['params']:,}" if is_num(model.get("params")) else "–")
    cols[1].metric("Keras model", human_bytes(sizes.get("model.keras")))
    cols[2].metric("TF.js bundle", human_bytes(sizes.get(served)), help=f"`{served}/`, what the static page loads")
    cols[3].metric("Training time", human_seconds(timings.get("train_s")),
                   help=f"whole run {human_seconds(timings.get('total_s'))}")
    st.caption(f"{m.get('epochs_run', '?')} epochs, best epoch {m.get('best_epoch', '?')} · "
               f"{timings.get('train_images_per_s', '?')} pictures/s in training · sizes: "
               + ", ".join(f"`{k}` {human_bytes(v)}" for k, v in sizes.items()))

    st.subheader("Training curves")
    charts = training_curves(m.get("history") or {}, m.get("best_epoch"))
    if not charts:
        st.info("No training history in metrics.json.")
    cols = st.columns(2)
    for i, (_, chart) in enumerate(charts):
        with cols[i % 2]:
            st.altair_chart(chart, width="stretch")
    with st.expander("Everything in metrics.json"):
        st.json(m, expanded=False)
