"""Compare: two runs metric by metric, the pictures they disagree on, and the 2017 network against the default."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from train import runs
from train.files import folder_bytes

from app.formatting import human_bytes, is_num, num3, pct
from app.pictures import gallery
from app.run import Run, SPLITS, cached_metrics, cached_model, cached_predictions, report

ORIGINAL_ARCH = "rendernet2017"  # the 2017 experiment, re-created (train/model.py)
TFJS_MAX_PICTURES = 300  # Keras vs TF.js: at most this many test pictures are run through Node


def compare_table(a: Run, b: Run, split: str = "test") -> pd.DataFrame:
    """Metric by metric: run A, run B and B − A."""
    def facts(run):
        r = report(run, split) or {}
        model = run.metrics.get("model") or {}
        sizes = model.get("bytes") or {}
        out = {"accuracy": r.get("accuracy"), "balanced accuracy": r.get("balanced_accuracy"),
               "macro F1": r.get("macro_f1"), "ROC AUC": r.get("roc_auc")}
        for c, s in (r.get("per_class") or {}).items():
            out[f"F1 {c}"] = s.get("f1")
        out["pictures"] = r.get("n")
        out["parameters"] = model.get("params")
        out["model.keras size"] = sizes.get("model.keras")
        out["TF.js size (served bundle)"] = sizes.get(model.get("served_tfjs", "tfjs"))
        out["training time"] = (run.metrics.get("timings") or {}).get("train_s")
        return out

    fa, fb = facts(a), facts(b)
    names = list(dict.fromkeys([*fa, *fb]))
    rows = []
    for k in names:
        va, vb = fa.get(k), fb.get(k)
        va, vb = (float(va) if is_num(va) else None), (float(vb) if is_num(vb) else None)
        rows.append({"metric": k, "A": va, "B": vb, "B − A": vb - va if va is not None and vb is not None else None})
    return pd.DataFrame(rows).set_index("metric")


def show_compare_table(a: Run, b: Run, key: str) -> None:
    table = compare_table(a, b)
    cols = st.columns(3)
    for col, name in zip(cols, ("accuracy", "balanced accuracy", "macro F1")):
        va, vb, d = table.loc[name, ["A", "B", "B − A"]]
        col.metric(f"{name} (test), B vs A", pct(vb) if "F1" not in name else num3(vb),
                   delta=(f"{d * 100:+.1f} pts" if "F1" not in name else f"{d:+.3f}") if pd.notna(d) else None,
                   help=f"A {a.id}: {pct(va) if 'F1' not in name else num3(va)}")
    st.dataframe(style_compare(table), height="content", key=f"{key}_table",
                 column_config={"_index": st.column_config.Column("metric", width="medium")})
    st.caption(f"A = `{a.id}` ({a.arch}), B = `{b.id}` ({b.arch}); scores on each run's test split.")


def style_compare(table: pd.DataFrame):
    """Row-wise number formats (shares as %, counts with separators, sizes in KB/MB; the B − A column
    signed); the data underneath stay numbers."""
    def fmt(metric, delta):
        sign = "+" if delta else ""
        if metric in ("pictures", "parameters"):
            return lambda v: f"{v:{sign},.0f}"
        if "size" in metric:
            return lambda v: ("+" if delta and v > 0 else "-" if v < 0 else "") + human_bytes(abs(v))
        if "time" in metric:
            return lambda v: f"{v:{sign},.1f} s"
        if metric in ("accuracy", "balanced accuracy"):
            return (lambda v: f"{v * 100:+.1f} pts") if delta else (lambda v: f"{v:.1%}")
        return lambda v: f"{v:{sign}.3f}"

    styler = table.style
    for metric in table.index:
        for column in table.columns:
            styler = styler.format(fmt(metric, column == "B − A"), subset=pd.IndexSlice[[metric], [column]],
                                   na_rep="–")
    return styler


def section_compare(usable: list[Run], selected: Run) -> None:
    st.header("Compare")
    ids = [r.id for r in usable]
    by_id = {r.id: r for r in usable}
    if len(usable) < 2:
        st.info("Only one run so far: train another (e.g. `python -m train --arch rendernet2017`) to compare two.")
    else:
        st.subheader("Two runs side by side")
        c1, c2 = st.columns(2)
        a = by_id[c1.selectbox("Run A", ids, index=ids.index(selected.id), key="cmp_a",
                               format_func=lambda i: by_id[i].label() + f" · {by_id[i].arch}")]
        others = [i for i in ids if i != a.id]
        b = by_id[c2.selectbox("Run B", ids, index=ids.index(others[0]), key="cmp_b",
                               format_func=lambda i: by_id[i].label() + f" · {by_id[i].arch}")]
        if a.id == b.id:
            st.info("Pick two different runs.")
        else:
            show_compare_table(a, b, "cmp")
            disagreements(a, b)
        section_arch_vs_default(usable)
    st.divider()
    section_tfjs(selected)


def disagreements(a: Run, b: Run) -> None:
    st.subheader("Pictures on which they disagree")
    if a.classes != b.classes:
        st.info(f"The runs have different classes ({a.classes} vs {b.classes}).")
        return
    classes = a.classes
    split = st.radio("Pictures of", list(SPLITS), format_func=SPLITS.get, horizontal=True, key="cmp_split")
    both = a.split_rows(split).merge(b.split_rows(split), on=["path", "split"], suffixes=("_a", "_b"))
    if both.empty:
        st.info("The two runs share no pictures in this split (different data or split).")
        return
    differ = both[both["predicted_class_a"] != both["predicted_class_b"]].copy()
    gap = np.abs(both[[f"p_{c}_a" for c in classes]].to_numpy() - both[[f"p_{c}_b" for c in classes]].to_numpy())
    both["gap"] = gap.max(axis=1)
    differ["gap"] = both.loc[differ.index, "gap"]
    right_a = int((differ["predicted_class_a"] == differ["true_class_a"]).sum())
    right_b = int((differ["predicted_class_b"] == differ["true_class_a"]).sum())
    st.markdown(f"**{len(differ)}** of {len(both)} shared {SPLITS[split]} pictures get different predictions "
                f"({1 - len(differ) / len(both):.1%} agreement); A is right on {right_a} of them, B on {right_b}.")
    # By path, then stably by gap: a sort on both columns at once turns paths into Arrow strings, which
    # refuse a name that is not UTF-8 (app/run.py keeps them as Python strings).
    differ = differ.sort_values("path").sort_values("gap", ascending=False, kind="stable")

    def lines(rec):
        out = [f"true **{rec['true_class_a']}**"]
        for side in ("a", "b"):
            probs = " · ".join("%.2f" % float(rec[f"p_{c}_{side}"]) for c in classes)
            out.append(f"{side.upper()}: {rec['predicted_class_' + side]} ({probs})")
        return out

    gallery(a, differ, lines, key="cmp")


def section_arch_vs_default(usable: list[Run]) -> None:
    from train.config import TrainConfig

    default_arch = TrainConfig().arch
    newest = {}
    for r in usable:  # newest first
        newest.setdefault(r.arch, r)
    st.subheader(f"The 2017 architecture ({ORIGINAL_ARCH}) against the default ({default_arch})")
    if ORIGINAL_ARCH == default_arch or ORIGINAL_ARCH not in newest or default_arch not in newest:
        missing = [x for x in (ORIGINAL_ARCH, default_arch) if x not in newest]
        st.info("Needs a run of each architecture; none yet of " + ", ".join(missing)
                + f" (train one with `python -m train --arch {missing[0] if missing else ORIGINAL_ARCH}`).")
        return
    a, b = newest[ORIGINAL_ARCH], newest[default_arch]
    st.caption(f"A = newest {ORIGINAL_ARCH} run `{a.id}`, B = newest {default_arch} run `{b.id}`. "
               "Only meaningful when both saw the same data.")
    show_compare_table(a, b, "arch")


def tfjs_folders(run: Run) -> list[str]:
    """Every TF.js bundle of the run (tfjs/, and tfjs-float16/, tfjs-uint8/ ... when quantized)."""
    return sorted(d.name for d in run.dir.glob("tfjs*") if d.is_dir())


def tfjs_problem() -> str | None:
    """None when the TF.js bundles can be run (in Node.js) here, else why not."""
    try:
        from train import tfjs_node

        return tfjs_node.missing()
    except Exception as e:
        return f"`train.tfjs_node` cannot be used ({type(e).__name__}: {e})"


@st.cache_data(show_spinner="Running model.keras and the TF.js bundles (in Node.js) on the test pictures ...",
               max_entries=8)
def tfjs_agreement(run_id: str, run_dir: str, files_stamp: str, folders: tuple[str, ...]) -> dict:
    """model.keras now (train.predict) against each TF.js bundle in real TF.js (train.export.check_bundles)
    on the run's test pictures that can still be read."""
    from train.export import check_bundles
    from train.predict import predict_files

    spec, model = cached_model(run_dir, files_stamp)
    classes = list(spec.class_names)
    preds = cached_predictions(run_dir, files_stamp, tuple(cached_metrics(run_dir, files_stamp)["class_names"]))
    split = "test" if (preds["split"] == "test").any() else "val"
    chosen = preds[preds["split"] == split].sort_values("path").head(TFJS_MAX_PICTURES)
    keras_probs, errors = predict_files(model, spec, chosen["path"].tolist())
    keep = [i for i, e in enumerate(errors) if e is None]
    paths = [chosen["path"].iloc[i] for i in keep]
    labels = chosen["true_class"].map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=int)[keep]
    out = {"split": split, "pictures": len(keep), "unreadable": len(chosen) - len(keep), "rows": {}}
    for folder in folders if keep else ():
        try:  # one bundle at a time: a broken bundle does not hide the others
            out["rows"][folder] = check_bundles(Path(run_dir), [folder], spec, paths, labels, keras_probs[keep],
                                                limit=TFJS_MAX_PICTURES)[folder]
        except Exception as e:
            out["rows"][folder] = {"error": f"{type(e).__name__}: {e}".splitlines()[0][:300]}
    return out


def bundle_table(rows: dict) -> pd.DataFrame:
    table = pd.DataFrame([{"bundle": f"{name}/", "pictures": r.get("pictures"),
                           "agreement with Keras": r.get("agreement_with_keras"),
                           "largest |ΔP|": r.get("max_abs_diff"), "accuracy (TF.js)": r.get("accuracy"),
                           "accuracy (Keras)": r.get("keras_accuracy"), "problem": r.get("error")}
                          for name, r in rows.items() if isinstance(r, dict)]).set_index("bundle")
    return table.drop(columns="problem") if table["problem"].isna().all() else table


BUNDLE_COLUMNS = {"agreement with Keras": st.column_config.NumberColumn(format="percent"),
                  "accuracy (TF.js)": st.column_config.NumberColumn(format="percent"),
                  "accuracy (Keras)": st.column_config.NumberColumn(format="percent"),
                  "largest |ΔP|": st.column_config.NumberColumn(format="%.2e")}


def section_tfjs(run: Run) -> None:
    st.subheader(f"Keras against the TF.js bundles: {run.id}")
    st.caption("The static page runs a TF.js bundle in the visitor's browser; it should answer like model.keras. "
               "Quantized bundles (float16, uint8 weights) trade a little accuracy for size.")
    m = run.metrics
    folders = tfjs_folders(run)
    served = (m.get("model") or {}).get("served_tfjs", "tfjs")
    check = m.get("tfjs_check") if isinstance(m.get("tfjs_check"), dict) else {}
    keras_bytes = folder_bytes(run.dir / "model.keras")
    files = [("model.keras", keras_bytes, None)] + [(f"{f}/", folder_bytes(run.dir / f), f) for f in folders]
    sizes = pd.DataFrame([{"file": name, "bytes": n, "size": human_bytes(n),
                           "vs Keras": n / keras_bytes if keras_bytes else None,
                           "served by the page": folder == served,
                           "accuracy at training (TF.js)": (check.get(folder) or {}).get("accuracy")
                           if folder and isinstance(check.get(folder), dict) else None}
                          for name, n, folder in files]).set_index("file")
    if sizes["accuracy at training (TF.js)"].isna().all():
        sizes = sizes.drop(columns="accuracy at training (TF.js)")
    st.dataframe(sizes, column_config={"vs Keras": st.column_config.NumberColumn(format="%.2f×"),
                                       "accuracy at training (TF.js)": st.column_config.NumberColumn(format="percent")})

    problem = tfjs_problem()
    if problem:
        st.info(f"Keras vs TF.js agreement not computed: {problem}. The file sizes above are still right.")
        measured = {k: v for k, v in check.items() if isinstance(v, dict)}
        if measured:
            st.dataframe(bundle_table(measured), column_config=BUNDLE_COLUMNS)
            st.caption("Measured when the run was trained (metrics.json `tfjs_check`).")
        elif "skipped" in check:
            st.caption(f"At training time the check was skipped too: {check['skipped']}")
        return
    try:
        result = tfjs_agreement(run.id, str(run.dir), run.stamp,
                                tuple(f for f in folders if (run.dir / f / "model.json").is_file()))
    except runs.RunError as e:
        st.error(f"Cannot load this run's Keras model: {e}")
        return
    if not result["pictures"]:
        st.info(f"None of the {result['unreadable']} {SPLITS[result['split']]} pictures can be read now: "
                "no agreement to measure.")
        return
    st.dataframe(bundle_table(result["rows"]), column_config=BUNDLE_COLUMNS, key="tfjs_table")
    st.caption(f"Measured now: {result['pictures']} {SPLITS[result['split']]} pictures, the same crops fed to "
               "model.keras and to each bundle in real TF.js (Node.js, WASM backend); agreement = same predicted "
               "class" + (f"; {result['unreadable']} pictures unreadable now" if result["unreadable"] else ""))
