"""The app's charts (Altair / Vega-Lite): the confusion matrix, ROC and PR curves, training curves."""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from app.formatting import is_num


def confusion_frame(cm, classes, chosen=None) -> pd.DataFrame:
    cm = np.asarray(cm)
    rows = cm.sum(axis=1)
    return pd.DataFrame([{"true_class": t, "predicted_class": p, "count": int(cm[i, j]),
                          "share": float(cm[i, j] / rows[i]) if rows[i] else 0.0,
                          "chosen": (t, p) == chosen}
                         for i, t in enumerate(classes) for j, p in enumerate(classes)])

def confusion_chart(cm, classes, selectable: bool = False, chosen=None) -> alt.Chart:
    """Rows true classes, columns predicted; `selectable`: a click selects a cell ("cell" parameter);
    `chosen` (true, predicted): the cell outlined."""
    df = confusion_frame(cm, classes, chosen)
    step = max(48, min(120, 360 // len(classes)))  # cell size (Streamlit keeps a Step size as given)
    base = alt.Chart(df).encode(
        x=alt.X("predicted_class:N", sort=list(classes), title="predicted", axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("true_class:N", sort=list(classes), title="true"))
    rect = base.mark_rect(cursor="pointer" if selectable else "default").encode(
        color=alt.Color("share:Q", scale=alt.Scale(scheme="blues", domain=[0, 1]), legend=None),  # shade: share of the row
        stroke=alt.condition("datum.chosen", alt.value("#f58518"), alt.value("white")),
        strokeWidth=alt.condition("datum.chosen", alt.value(5), alt.value(2)),
        tooltip=[alt.Tooltip("true_class:N", title="true"), alt.Tooltip("predicted_class:N", title="predicted"),
                 alt.Tooltip("count:Q", title="pictures"), alt.Tooltip("share:Q", title="share of row", format=".1%")])
    if selectable:
        pick = alt.selection_point(name="cell", fields=["true_class", "predicted_class"], on="click", empty=False)
        rect = rect.add_params(pick)
    text = base.mark_text(fontSize=18, fontWeight="bold").encode(
        text="count:Q", color=alt.condition("datum.share > 0.5", alt.value("white"), alt.value("#222")))
    return (rect + text).properties(width=alt.Step(step), height=alt.Step(step))

def curve_chart(df: pd.DataFrame, x: str, y: str, here: pd.DataFrame, title: str, diagonal: bool) -> alt.Chart:
    line = alt.Chart(df).mark_line(interpolate="step-after" if not diagonal else "linear").encode(
        x=alt.X(f"{x}:Q", scale=alt.Scale(domain=[0, 1])), y=alt.Y(f"{y}:Q", scale=alt.Scale(domain=[0, 1])),
        tooltip=[alt.Tooltip(f"{x}:Q", format=".3f"), alt.Tooltip(f"{y}:Q", format=".3f"),
                 alt.Tooltip("threshold:Q", format=".3f")])
    layers = [line]
    if diagonal:
        layers.insert(0, alt.Chart(pd.DataFrame({x: [0, 1], y: [0, 1]})).mark_line(
            strokeDash=[4, 4], color="#bbb").encode(x=f"{x}:Q", y=f"{y}:Q"))
    points = alt.Chart(here).mark_point(size=160, filled=True).encode(
        x=f"{x}:Q", y=f"{y}:Q",
        color=alt.Color("point:N", title=None, scale=alt.Scale(domain=["slider", "run's threshold"],
                                                              range=["#e45756", "#54a24b"])),
        shape=alt.Shape("point:N", title=None, scale=alt.Scale(domain=["slider", "run's threshold"],
                                                              range=["circle", "diamond"])),
        tooltip=["point:N", alt.Tooltip("threshold:Q", format=".3f"), alt.Tooltip(f"{x}:Q", format=".3f"),
                 alt.Tooltip(f"{y}:Q", format=".3f")])
    return alt.layer(*layers, points).properties(title=title, height=320)

def training_curves(history: dict, best_epoch) -> list[tuple[str, alt.Chart]]:
    """One chart per metric (loss, accuracy, ...): train vs validation per epoch."""
    rows = []
    for key, values in history.items():
        if not isinstance(values, list):
            continue
        name, part = (key[4:], "validation") if key.startswith("val_") else (key, "train")
        rows += [{"metric": name, "set": part, "epoch": i + 1, "value": float(v)}
                 for i, v in enumerate(values) if is_num(v)]
    if not rows:
        return []
    df = pd.DataFrame(rows)
    order = [m for m in ("loss", "accuracy") if m in set(df["metric"])]
    order += sorted(set(df["metric"]) - set(order))
    charts = []
    for name in order:
        part = df[df["metric"] == name]
        chart = alt.Chart(part).mark_line(point=True).encode(
            x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1)), y=alt.Y("value:Q", title=name, scale=alt.Scale(zero=False)),
            color=alt.Color("set:N", title=None, sort=["train", "validation"]),
            tooltip=["set:N", "epoch:Q", alt.Tooltip("value:Q", format=".4f")])
        if is_num(best_epoch):
            chart = chart + alt.Chart(pd.DataFrame({"epoch": [best_epoch]})).mark_rule(
                strokeDash=[4, 3], color="#888").encode(x="epoch:Q", tooltip=[alt.Tooltip("epoch:Q", title="best epoch")])
        charts.append((name, chart.properties(title=name, height=260)))
    return charts
