"""The Streamlit app (streamlit_app.py) on the tiny runs of conftest: every section through AppTest, and
one real-browser smoke test (Debian's Chromium through playwright) of `streamlit run`."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.formatting import md_text
from app.signin import FIRST_WAIT_S, door_token, token_valid
from train import runs
from train.files import folder_bytes, size_text

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "streamlit_app.py"
ENV = "RENDER_OR_REAL_MODELS"
CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "procfile deployment"  # the Procfile starts the app with --login

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402


@pytest.fixture(autouse=True)
def data_folders(monkeypatch, tmp_path_factory):
    """The app shows pictures from its --data folders only: here every test's data, under pytest's
    temporary folder."""
    monkeypatch.setenv("RENDER_OR_REAL_DATA", str(tmp_path_factory.getbasetemp()))


@pytest.fixture
def no_wrong_passwords_yet(monkeypatch):
    """The server's count of wrong passwords per client, empty: each test's guesses start afresh."""
    import app.signin

    monkeypatch.setattr(app.signin, "_wrong", {})


def app(monkeypatch, models: Path, section: str | None = None) -> AppTest:
    monkeypatch.setenv(ENV, str(models))
    at = AppTest.from_file(str(APP), default_timeout=180)
    at.run()
    if section:
        at.sidebar.radio(key="section").set_value(section).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics_of(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def frames(at: AppTest) -> list[pd.DataFrame]:
    return [d.value for d in at.dataframe]


def confusion_frame(at: AppTest) -> pd.DataFrame:
    return next(f for f in frames(at) if f.index.name == "true \\ predicted")


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [h.value for h in at.header]
    parts += [h.value for h in at.subheader] + [i.value for i in at.info] + [w.value for w in at.warning]
    return "\n".join(parts)


def load(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


# ---------------------------------------------------------------- robustness


def test_no_runs_yet_says_how_to_train(monkeypatch, tmp_path):
    at = app(monkeypatch, tmp_path / "models")
    assert at.header[0].value == "No training runs yet"
    assert any("python -m train" in c.value for c in at.code)
    assert not at.warning


def test_corrupt_and_incomplete_runs_are_skipped_with_a_warning(monkeypatch, fake_models):
    (fake_models / "runs" / "tiny-rendernet2017" / "metrics.json").write_text("{not json")
    only_model = fake_models / "runs" / "20990101-000000-only-model"
    only_model.mkdir()
    shutil.copy(fake_models / "runs" / "tiny-tracenet" / "model.keras", only_model)
    bad_csv = fake_models / "runs" / "20990102-000000-bad-csv"
    shutil.copytree(fake_models / "runs" / "tiny-tracenet", bad_csv)
    (bad_csv / "predictions.csv").write_text("garbage,columns\n1,2\n")

    at = app(monkeypatch, fake_models)
    warnings = "\n".join(w.value for w in at.warning)
    assert "tiny-rendernet2017" in warnings and "unreadable report" in warnings
    assert "only-model" in warnings and "missing metrics.json" in warnings
    assert "bad-csv" in warnings and "predictions.csv lacks" in warnings
    # The good run is still shown, and every section works.
    assert at.sidebar.selectbox(key="run").options == ["tiny-tracenet (current) · tracenet"]
    assert metrics_of(at)["Accuracy"] == f"{load(fake_models / 'runs' / 'tiny-tracenet')['test']['accuracy']:.1%}"
    for section in ("Confusion & examples", "Threshold", "Compare"):
        at.sidebar.radio(key="section").set_value(section).run()
        assert not at.exception, (section, [e.value for e in at.exception])
    assert any("Only one run" in i.value for i in at.info)


def test_a_broken_current_run_falls_back_to_the_newest_complete_one(monkeypatch, fake_models):
    (fake_models / "runs" / "tiny-tracenet" / "predictions.csv").unlink()
    at = app(monkeypatch, fake_models)
    assert "points at it" in at.warning[0].value
    assert at.sidebar.selectbox(key="run").value == "tiny-rendernet2017"
    assert at.header[0].value == "Overview: tiny-rendernet2017"


def test_a_damaged_model_file_is_an_error_message_not_a_crash(monkeypatch, models_copy, tiny_data):
    (models_copy / "runs" / "tiny-tracenet" / "model.keras").write_bytes(b"not a zip archive")
    at = app(monkeypatch, models_copy, "Try it")
    picture = sorted((tiny_data / "render").glob("*.png"))[0]
    at.file_uploader(key="uploads").set_value((picture.name, picture.read_bytes(), "image/png")).run()
    assert not at.exception
    assert "Cannot load this run's model" in at.error[0].value


# ---------------------------------------------------------------- 1. overview


def test_overview_numbers_match_metrics_json(monkeypatch, fake_models):
    run = fake_models / "runs" / "tiny-tracenet"
    m = load(run)
    m["test"]["per_source"] = {"render/": {"accuracy": 0.5, "n": 4}}  # later issues add keys: no harm
    m["quantized"] = {"tfjs-float16": {"accuracy": 0.5}}
    m["test"]["slices"] = {"interiors": {"pattern": "kitchen", "n": 3, "accuracy": 2 / 3, "balanced_accuracy": 0.75}}
    m["model"]["bytes"]["tfjs"] = 4_567_101  # a lite0 bundle's size: said as every command and the page say it
    (run / "metrics.json").write_text(json.dumps(m))
    at = app(monkeypatch, fake_models)
    assert at.sidebar.selectbox(key="run").value == "tiny-tracenet"  # default: current
    t = m["test"]
    shown = metrics_of(at)
    assert shown["Accuracy"] == f"{t['accuracy']:.1%}"
    assert shown["Balanced accuracy"] == f"{t['balanced_accuracy']:.1%}"
    assert shown["Macro F1"] == f"{t['macro_f1']:.3f}"
    assert shown["ROC AUC"] == f"{t['roc_auc']:.3f}"
    assert shown["Parameters"] == f"{m['model']['params']:,}"
    assert shown["Training time"] == f"{m['timings']['train_s']:.1f} s"
    assert shown["TF.js bundle"] == "4.6 MB" == size_text(4_567_101)
    per_class = next(f for f in frames(at) if f.index.name == "class")
    counts = next(f for f in frames(at) if f.index.name == "split")
    for c, s in t["per_class"].items():
        assert per_class.loc[c].to_dict() == pytest.approx(s)
    for split, by_class in m["data"]["counts"].items():
        assert counts.loc[split, list(by_class)].tolist() == list(by_class.values())
    assert counts.loc["total", "total"] == sum(sum(v.values()) for v in m["data"]["counts"].values())
    assert any("per_source" in e.label for e in at.expander)
    if "by_source" in t:  # accuracy per file-name prefix
        sources = next(f for f in frames(at) if f.index.name == "source")
        assert sources["accuracy"].to_dict() == pytest.approx({k: v["accuracy"] for k, v in t["by_source"].items()})
    slices = next(f for f in frames(at) if f.index.name == "slice")
    assert slices.loc["interiors", "pictures"] == 3 and slices.loc["interiors", "accuracy"] == pytest.approx(2 / 3)
    assert len(at.get("vega_lite_chart")) >= 2  # loss and accuracy curves
    # The validation scores, and the other run.
    assert all(metric.proto.help for metric in at.metric), [metric.label for metric in at.metric if not metric.proto.help]
    at.radio(key="overview_split").set_value("val").run()
    assert metrics_of(at)["Accuracy"] == f"{m['val']['accuracy']:.1%}"
    at.sidebar.selectbox(key="run").set_value("tiny-rendernet2017").run()
    assert metrics_of(at)["Parameters"] == f"{load(fake_models / 'runs' / 'tiny-rendernet2017')['model']['params']:,}"


def test_a_lite0_overview_explains_its_head_instead_of_epochs(monkeypatch, fake_models):
    """lite0 has no epochs (a linear head on frozen features, metrics.json training.head): the overview
    says what it has instead (C and how it was chosen, with the cross-validated losses), not "0 epochs,
    best epoch None" and "No training history"."""
    run = fake_models / "runs" / "tiny-tracenet"
    m = load(run)
    m.update(arch="lite0", history={}, epochs_run=0, best_epoch=None)  # as train/lite0_head.py's fit leaves them
    m["training"].update(embed_s=11.8, head_s=5.6, calibration_pictures=74, head={
        "C": 0.1, "cv_folds": 5, "calibration_folds": 5, "c_chosen_holding_out": "groups",
        "cv_balanced_log_loss": {"0.003": 0.083, "0.01": 0.042, "0.03": 0.024, "0.1": 0.013}})
    (run / "metrics.json").write_text(json.dumps(m))
    at = app(monkeypatch, fake_models)
    shown = texts(at)
    assert "None" not in shown and "No training history" not in shown and "0 epochs" not in shown, shown
    assert "no epochs" in shown and "C = 0.1" in shown and "5-fold cross-validation holding out whole groups" in shown
    assert "calibrated on 74 pictures" in shown and any("The head's fit" == h.value for h in at.subheader)
    assert len(at.get("vega_lite_chart")) == 1  # the loss per C


# ---------------------------------------------------------------- 2. confusion matrix and examples


def test_confusion_matrix_and_its_pictures(monkeypatch, tiny_models):
    m = load(tiny_models / "runs" / "tiny-tracenet")
    at = app(monkeypatch, tiny_models, "Confusion & examples")
    cm = confusion_frame(at)
    assert cm.to_numpy().tolist() == m["test"]["confusion_matrix"]
    assert at.get("vega_lite_chart")  # the clickable Altair matrix
    classes = m["class_names"]
    for ti, t in enumerate(classes):
        for pi, p in enumerate(classes):
            at.selectbox(key="cm_true").set_value(t)
            at.selectbox(key="cm_pred").set_value(p).run()
            n = m["test"]["confusion_matrix"][ti][pi]
            assert f"True {t}, predicted {p}" in at.subheader[0].value and f": {n} pictures" in at.subheader[0].value
            cards = [md.value for md in at.markdown if md.value.startswith("**")]
            assert len(cards) == min(n, 12)
            confidences = [float(c.split(f"P({p}) = ")[1].split()[0]) for c in cards]
            assert confidences == sorted(confidences, reverse=True)  # confident (mistakes) first
            assert len(at.image) == 2 * len(cards)  # original + model's-eye square on every card
    at.radio(key="cm_split").set_value("val").run()
    assert confusion_frame(at).to_numpy().tolist() == m["val"]["confusion_matrix"]
    at.toggle(key="cm_votes").set_value(True).run()  # the vote map on every card, as the page draws it
    captions = [img.caption for im in at.image for img in im.proto.imgs]
    assert not at.exception and sum("own answer" in c for c in captions) == len(captions) // 2 > 0, captions
    # Big enough to read (two cards a row, the map two thirds of its card), with a legend of the colours.
    weights = {round(c.weight, 3) for c in at.main.columns}
    assert {0.5, 0.333, 0.667} <= weights and 0.25 not in weights, weights
    legend = next(c.value for c in at.caption if c.value.startswith("Vote map:"))
    assert all(f" {c}" in legend for c in classes) and "🟦" in legend, legend


def test_a_missing_picture_gets_a_placeholder_card(monkeypatch, fake_models):
    run = fake_models / "runs" / "tiny-tracenet"
    table = pd.read_csv(run / "predictions.csv")
    table["path"] = [str(Path(p).with_name("gone-" + Path(p).name)) for p in table["path"]]
    table.to_csv(run / "predictions.csv", index=False)
    at = app(monkeypatch, fake_models, "Confusion & examples")
    assert any("file not found" in w.value for w in at.warning)
    assert not at.image


def test_only_pictures_inside_the_runs_data_folder_are_shown(monkeypatch, fake_models, tmp_path):
    """A predictions.csv edited to name files elsewhere (a secret beside the data, a path climbing out
    with .., a non-picture inside) shows none of them."""
    run = fake_models / "runs" / "tiny-tracenet"
    root = Path(load(run)["data"]["root"])
    secret = tmp_path / "secret.png"
    shutil.copy(next(root.rglob("*.png")), secret)
    table = pd.read_csv(run / "predictions.csv")
    table = table[table["split"] == "test"].copy()
    escapes = [str(secret), str(root / ".." / ".." / secret.relative_to(secret.anchor)), str(root / "notes.txt")]
    table["path"] = [escapes[i % 3] for i in range(len(table))]
    table.to_csv(run / "predictions.csv", index=False)
    at = app(monkeypatch, fake_models, "Confusion & examples")
    assert not at.image
    assert any("not a picture inside the run's data folder" in w.value for w in at.warning)


def test_a_link_out_of_the_data_or_an_edited_data_root_shows_nothing(monkeypatch, fake_models, tmp_path):
    """A symlink inside the data folder to a picture elsewhere is not followed out of it (real paths
    compared), and metrics.json's data.root edited to "/" does not widen what is served: the app's own
    data folders (--data, $RENDER_OR_REAL_DATA) bound it."""
    run = fake_models / "runs" / "tiny-tracenet"
    root = Path(load(run)["data"]["root"])
    secret = tmp_path / "outside" / "secret.png"
    secret.parent.mkdir()
    shutil.copy(next(root.rglob("*.png")), secret)
    data = tmp_path / "data"  # a copy of the data with one link pointing out of it
    shutil.copytree(root, data)
    link = data / "render" / "link.png"
    link.symlink_to(secret)
    table = pd.read_csv(run / "predictions.csv")
    table = table[table["split"] == "test"].copy()
    table["path"] = str(link)
    table.to_csv(run / "predictions.csv", index=False)
    m = load(run)
    m["data"]["root"] = str(data)
    (run / "metrics.json").write_text(json.dumps(m))
    at = app(monkeypatch, fake_models, "Confusion & examples")
    assert not at.image and any("not a picture inside the run's data folder" in w.value for w in at.warning)
    table["path"] = str(secret)  # the secret named directly, with the data root widened to "/"
    table.to_csv(run / "predictions.csv", index=False)
    m["data"]["root"] = "/"
    (run / "metrics.json").write_text(json.dumps(m))
    monkeypatch.setenv("RENDER_OR_REAL_DATA", str(data))
    at = app(monkeypatch, fake_models, "Confusion & examples")
    assert not at.image and any("not a picture inside the run's data folder" in w.value for w in at.warning)
    m["data"]["root"] = str(tmp_path)  # a root inside the app's data folders does serve its pictures
    (run / "metrics.json").write_text(json.dumps(m))
    monkeypatch.setenv("RENDER_OR_REAL_DATA", str(tmp_path))
    assert app(monkeypatch, fake_models, "Confusion & examples").image


def test_file_names_in_cards_are_shown_as_they_are(monkeypatch, tmp_path, tiny_data):
    """A card's file name is text, whatever it holds: Markdown links, images, HTML and KaTeX stay
    characters (rendered here by a CommonMark renderer, as Streamlit's is), a name that is not UTF-8 shows
    its undecodable byte as the replacement sign, a line break as its visible symbol."""
    import csv
    import html
    import re

    from markdown_it import MarkdownIt

    from tests.run_folders import write_models
    from train.csvfile import open_csv

    data = tmp_path / "data"  # a copy: the odd names are added beside the pictures
    shutil.copytree(tiny_data, data)
    fake_models = write_models(tmp_path / "models", data)
    run = fake_models / "runs" / "tiny-tracenet"
    with open_csv(run / "predictions.csv") as f:
        rows = list(csv.reader(f))
    shown = {}  # the name each card must show -> the file
    for i, row in enumerate(rows[1:]):
        if row[1] != "test":
            continue
        old = Path(row[0])
        name = [f"[click{i}](https:evil.example)![x{i}](https:evil.example?i.png)$x^2$<img src=x onerror=alert(1)>*e*.png",
                f"caf\udce9 {i}.png", f"line\nbreak {i}.png"][i % 3]
        new = old.with_name(name)
        shutil.copy(old, new)
        row[0] = str(new)
        shown[name.replace("\udce9", "\ufffd").replace("\n", "\u240a")] = new
    with open_csv(run / "predictions.csv", "w") as f:
        csv.writer(f).writerows(rows)
    at = app(monkeypatch, fake_models, "Confusion & examples")
    cards = [md.value for md in at.markdown if md.value.startswith("**")]
    assert cards and at.image
    for card in cards:
        rendered = MarkdownIt("commonmark").render(card)
        assert not re.search(r"<(a|img|em)\b", rendered), rendered
        name = html.unescape(re.search(r"<strong>(.*?)</strong>", rendered).group(1))
        assert name in shown, name
        assert "$" not in card.replace("\\$", "")  # every dollar escaped: no KaTeX


def test_a_password_guards_a_deployment(monkeypatch, fake_models, no_wrong_passwords_yet):
    """With a password configured nothing of the runs shows until it is given; a wrong one is refused;
    started with --login (the Procfile) and no password configured, the app says how to set one."""
    monkeypatch.setenv("RENDER_OR_REAL_PASSWORD", "s3cret horse")
    monkeypatch.setenv(ENV, str(fake_models))
    at = AppTest.from_file(str(APP), default_timeout=180).run()
    assert not at.sidebar.selectbox and not at.metric
    at.text_input(key="password").input("guess").run()
    assert any("Wrong password" in e.value for e in at.error) and not at.metric
    time.sleep(FIRST_WAIT_S)  # a wrong password makes the next one wait (test_wrong_passwords_are_slowed_down)
    at.text_input(key="password").input("s3cret horse").run()
    assert not at.exception and at.sidebar.selectbox(key="run").options and at.metric
    monkeypatch.delenv("RENDER_OR_REAL_PASSWORD")
    monkeypatch.setattr(sys, "argv", ["streamlit_app.py", "--login"])
    at = AppTest.from_file(str(APP), default_timeout=180).run()
    assert not at.sidebar.selectbox and "RENDER_OR_REAL_PASSWORD" in at.error[0].value


def test_wrong_passwords_are_slowed_down(monkeypatch, fake_models, no_wrong_passwords_yet):
    """After a wrong password the client's next one is not even checked for 1 s, then 2 s after a
    second, doubling: guessing is slow; the right password is let in once the wait is over."""
    monkeypatch.setenv("RENDER_OR_REAL_PASSWORD", "s3cret horse")
    monkeypatch.setenv(ENV, str(fake_models))
    at = AppTest.from_file(str(APP), default_timeout=180).run()
    at.text_input(key="password").input("guess 1").run()
    assert "checked after 1 s" in at.error[0].value
    at.text_input(key="password").input("s3cret horse").run()  # at once: refused unchecked
    assert "Too many wrong passwords" in at.error[0].value and not at.metric
    time.sleep(FIRST_WAIT_S)
    at.text_input(key="password").input("guess 2").run()
    assert "checked after 2 s" in at.error[0].value
    time.sleep(2 * FIRST_WAIT_S)
    at.text_input(key="password").input("s3cret horse").run()
    assert not at.exception and at.metric


def test_the_sign_in_cookie_is_signed_and_expires():
    """The cookie that keeps a visitor in across reloads: made only with the password, refused when
    changed, expired, or made for another password."""
    now = time.time()
    token = door_token("s3cret horse", int(now) + 3600)
    assert token_valid(token, "s3cret horse", now)
    assert not token_valid(token, "s3cret horse", now + 3601)  # expired
    assert not token_valid(token, "another password", now)
    expires, mac = token.split(".")
    assert not token_valid(f"{int(expires) + 10**6}.{mac}", "s3cret horse", now)  # expiry pushed back
    assert not token_valid(None, "s3cret horse", now) and not token_valid("junk", "s3cret horse", now)


# ---------------------------------------------------------------- 3. threshold


def test_threshold_slider_changes_the_confusion_matrix_and_scores(monkeypatch, fake_models):
    m = load(fake_models / "runs" / "tiny-tracenet")
    classes, pos = m["class_names"], m["positive_class"]
    table = pd.read_csv(fake_models / "runs" / "tiny-tracenet" / "predictions.csv")
    test = table[table.split == "test"]
    n_true = test.true_class.value_counts().reindex(classes, fill_value=0)
    at = app(monkeypatch, fake_models, "Threshold")
    slider = at.slider(key=f"thr_value_{pos}")
    assert slider.value == m["threshold"]  # opens on the run's own decisions: no change yet, so no delta
    assert [d.proto.delta for d in at.metric] == [""] * 4 and all(d.proto.help for d in at.metric)
    at_run = confusion_frame(at).to_numpy().tolist()
    assert at_run == m["test"]["at_threshold"]["confusion_matrix"]
    expected = np.zeros((2, 2), int)
    for _, r in test.iterrows():
        expected[classes.index(r.true_class), classes.index(pos) if r[f"p_{pos}"] >= slider.value
                 else 1 - classes.index(pos)] += 1
    assert at_run == expected.tolist()

    slider.set_value(0.0).run()  # everything is positive
    everything = confusion_frame(at)
    assert everything[pos].tolist() == n_true.tolist() and everything.drop(columns=pos).sum().sum() == 0
    shown = metrics_of(at)
    assert shown["Recall"] == "1.000"
    assert shown["Precision"] == f"{n_true[pos] / n_true.sum():.3f}"
    run_recall = m["test"]["at_threshold"]["per_class"][pos]["recall"]
    deltas = {d.label: d.proto.delta for d in at.metric}
    assert deltas["Recall"] == ("" if round(1 - run_recall, 3) == 0 else f"{1 - run_recall:+.3f}"), deltas

    at.slider(key=f"thr_value_{pos}").set_value(1.0).run()  # (almost) nothing is positive
    nothing = confusion_frame(at)
    assert nothing[pos].sum() == int((test[f"p_{pos}"] >= 1.0).sum())
    assert metrics_of(at)["Recall"] != "1.000"
    assert len(at.get("vega_lite_chart")) == 4  # matrix, histogram, ROC, precision-recall

    # Another positive class and the validation split.
    other = next(c for c in classes if c != pos)
    at.selectbox(key="thr_pos").set_value(other).run()
    at.slider(key=f"thr_value_{other}").set_value(0.0).run()
    assert confusion_frame(at)[other].sum() == len(test)
    at.radio(key="thr_split").set_value("val").run()
    assert confusion_frame(at)[other].sum() == int((table.split == "val").sum())


# ---------------------------------------------------------------- 4. comparison


def test_compare_shows_the_right_deltas_and_disagreements(monkeypatch, models_copy, lite0_run):
    a_dir, b_dir = models_copy / "runs" / "tiny-tracenet", models_copy / "runs" / "tiny-rendernet2017"
    shutil.copytree(lite0_run, models_copy / "runs" / lite0_run.name)  # a run of the default architecture
    # Make run B disagree with A on exactly one test picture.
    table = pd.read_csv(b_dir / "predictions.csv")
    a_pred = pd.read_csv(a_dir / "predictions.csv").set_index("path")["predicted_class"]
    test_rows = table.index[table.split == "test"]
    table.loc[test_rows, "predicted_class"] = table.loc[test_rows, "path"].map(a_pred)
    first = test_rows[0]
    table.at[first, "predicted_class"] = "render" if table.at[first, "predicted_class"] == "photo" else "photo"
    table.to_csv(b_dir / "predictions.csv", index=False)
    # And a quantized bundle, as issue #5 will add.
    shutil.copytree(a_dir / "tfjs", a_dir / "tfjs-float16")
    a, b = load(a_dir), load(b_dir)

    at = app(monkeypatch, models_copy, "Compare")
    assert at.selectbox(key="cmp_a").value == "tiny-tracenet"
    at.selectbox(key="cmp_b").set_value("tiny-rendernet2017").run()
    deltas = frames(at)[0]
    for name, key in (("accuracy", "accuracy"), ("balanced accuracy", "balanced_accuracy"),
                      ("macro F1", "macro_f1"), ("ROC AUC", "roc_auc")):
        assert deltas.loc[name, "A"] == pytest.approx(a["test"][key])
        assert deltas.loc[name, "B"] == pytest.approx(b["test"][key])
        assert deltas.loc[name, "B − A"] == pytest.approx(b["test"][key] - a["test"][key])
    assert deltas.loc["parameters", "B − A"] == b["model"]["params"] - a["model"]["params"]
    assert deltas.loc["model.keras size", "B − A"] == b["model"]["bytes"]["model.keras"] - a["model"]["bytes"]["model.keras"]
    assert any(md.value.startswith("**1** of") for md in at.markdown), [md.value for md in at.markdown]
    assert len([md for md in at.markdown if md.value.startswith("**" + md_text("img_"))]) == 1  # names escaped

    # The 2017 architecture against the default: newest run of each (A = rendernet2017, B = lite0).
    assert any("rendernet2017" in s.value and "lite0" in s.value for s in at.subheader)
    arch = frames(at)[1]
    default = load(models_copy / "runs" / lite0_run.name)
    assert arch.loc["ROC AUC", "B − A"] == pytest.approx(default["test"]["roc_auc"] - b["test"]["roc_auc"])

    # Keras against every TF.js bundle: sizes always, agreement when Node.js + TF.js can run here.
    sizes = next(f for f in frames(at) if f.index.name == "file")
    assert sizes.loc["tfjs/", "bytes"] == folder_bytes(a_dir / "tfjs")
    assert sizes.loc["tfjs-float16/", "bytes"] == folder_bytes(a_dir / "tfjs-float16")
    assert sizes.loc["model.keras", "bytes"] == (a_dir / "model.keras").stat().st_size
    from train import tfjs_node

    if tfjs_node.tfjs_available():
        agreement = next(f for f in frames(at) if f.index.name == "bundle")
        assert agreement.index.tolist() == ["tfjs/", "tfjs-float16/"]
        assert (agreement["agreement with Keras"] == 1.0).all()
        assert (agreement["largest |ΔP|"] < 1e-4).all()
        assert (agreement["pictures"] == a["test"]["n"]).all()
    else:
        assert any("agreement not computed" in i.value for i in at.info)

    # Swapping the runs flips the signs.
    at.selectbox(key="cmp_a").set_value("tiny-rendernet2017")
    at.selectbox(key="cmp_b").set_value("tiny-tracenet").run()
    assert frames(at)[0].loc["ROC AUC", "B − A"] == pytest.approx(a["test"]["roc_auc"] - b["test"]["roc_auc"])


def test_tfjs_comparison_explains_when_node_is_missing(monkeypatch, tiny_models):
    import train.tfjs_node as tfjs_node

    monkeypatch.setattr(tfjs_node, "missing", lambda: "`node` is not on PATH (install Node.js 20+)")
    at = app(monkeypatch, tiny_models, "Compare")
    assert any("agreement not computed: `node` is not on PATH" in i.value for i in at.info)
    assert any(f.index.name == "file" for f in frames(at))  # the file sizes are still there
    check = load(tiny_models / "runs" / "tiny-tracenet").get("tfjs_check") or {}
    if "tfjs" in check:  # ... and what training measured, from metrics.json
        measured = next(f for f in frames(at) if f.index.name == "bundle")
        assert measured.loc["tfjs/", "largest |ΔP|"] == pytest.approx(check["tfjs"]["max_abs_diff"])


# ---------------------------------------------------------------- 5. try it


def test_try_it_predicts_uploads_like_train_predict(monkeypatch, tiny_models, tiny_data):
    from train.predict import predict_files

    at = app(monkeypatch, tiny_models, "Try it")
    assert "in the browser" in at.info[0].value
    pictures = sorted((tiny_data / "photo").glob("*.jpg"))[:1] + sorted((tiny_data / "render").glob("*.png"))[:1]
    uploads = [(p.name, p.read_bytes(), "image/jpeg" if p.suffix == ".jpg" else "image/png") for p in pictures]
    uploads.append(("broken.png", b"this is not a picture", "image/png"))
    at.file_uploader(key="uploads").set_value(uploads).run()
    assert not at.exception
    spec, model = runs.load_run_model(runs.resolve(tiny_models))
    probs, _ = predict_files(model, spec, pictures)
    from train.preprocess import decide

    assert [m.value for m in at.metric if m.label == "Verdict"] == [decide(p, spec) for p in probs]
    captions = [c.value for c in at.caption]
    for p in probs:
        best = int(p.argmax())
        assert any(c.startswith(f"P({spec.class_names[best]}) = {p[best]:.3f}") for c in captions)
    assert len(at.error) == 1 and at.error[0].value.startswith(md_text("broken.png:"))


def test_try_it_keeps_memory_bounded_for_big_uploads(fake_models, tiny_data, tmp_path):
    """Three 8000x8000 PNGs (small files, 192 MB each decoded) in Try it raise the server's peak memory
    by well under 1.5 GB (3.5 GB before they were decoded reduced), measured in a fresh process
    (tests/try_it_memory.py) with an untrained model of the same inputs."""
    from PIL import Image

    from tests.run_folders import write_tiny_model

    write_tiny_model(fake_models / "runs" / "tiny-tracenet")
    big = []
    for i in range(3):
        stripes = np.zeros((8000, 8000, 3), np.uint8)
        stripes[::7, :, i] = 255
        big.append(tmp_path / f"big{i}.png")
        Image.fromarray(stripes).save(big[-1])
        del stripes
    small = next((tiny_data / "render").glob("*.png"))
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "try_it_memory.py"), str(APP), str(small), *map(str, big)],
                         env={**os.environ, ENV: str(fake_models)}, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    rise_mb = float(out.stdout.split()[-1])
    assert rise_mb < 1500, f"peak memory rose by {rise_mb:.0f} MB"  # 0.3-1 GB here, 3.5 GB before


def test_a_demo_run_is_tagged_in_the_picker_and_warned_of_on_try_it(monkeypatch, fake_models):
    """A run trained on the synthetic demo data: "demo" leads its name in the run picker (a narrow sidebar
    cuts the end of a long label), the sidebar and Try it warn that its verdicts mean nothing for real
    pictures; a run on real pictures gets neither."""
    demo = fake_models / "runs" / "tiny-tracenet"
    m = load(demo)
    m["data"]["synthetic"] = True
    (demo / "metrics.json").write_text(json.dumps(m))
    at = app(monkeypatch, fake_models, "Try it")
    assert at.sidebar.selectbox(key="run").options == ["demo · tiny-tracenet (current) · tracenet",
                                                       "tiny-rendernet2017 (candidate) · rendernet2017"]
    assert any("SYNTHETIC demo data" in w.value for w in at.sidebar.warning)
    assert any("SYNTHETIC demo data" in w.value for w in at.main.warning)
    at.sidebar.selectbox(key="run").set_value("tiny-rendernet2017").run()
    assert not at.exception and not any("demo" in w.value for w in at.warning)


# ---------------------------------------------------------------- the real browser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_from_procfile(models: Path, tmp_path: Path):
    """The app started exactly as the Procfile's web line says (a shell, $PORT set by the "platform");
    -> (process, url, log path) once it answers its health check."""
    line = next(ln for ln in (ROOT / "Procfile").read_text().splitlines() if ln.startswith("web:"))
    port = free_port()
    env = {**os.environ, ENV: str(models), "PORT": str(port), "RENDER_OR_REAL_PASSWORD": PASSWORD, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    log_path = tmp_path / "streamlit.log"
    log = open(log_path, "w")
    server = subprocess.Popen(["bash", "-c", f"exec {line.split(':', 1)[1].strip()}"], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return server, url, log_path
        except OSError:
            pass
        if server.poll() is not None or time.time() > deadline:
            server.kill()
            raise AssertionError(f"the Procfile's command did not serve the app: {log_path.read_text()[-2000:]}")
        time.sleep(0.3)


def stop(server) -> None:
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is missing (bash setup.sh --test installs it)")
def test_streamlit_run_renders_in_chromium_without_errors(tiny_models, artifacts_dir, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    server, url, _ = start_from_procfile(tiny_models, tmp_path)
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
                "--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run"])
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(url)
                password = page.locator("input[type=password]")
                password.wait_for(timeout=60_000)
                password.fill(PASSWORD)
                password.press("Enter")

                def settled(heading: str) -> None:
                    page.get_by_role("heading", name=heading).first.wait_for(timeout=60_000)
                    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=60_000)
                    page.wait_for_timeout(700)  # charts draw after the script ends
                    errors = page.locator('[data-testid="stException"]')
                    assert errors.count() == 0, errors.first.inner_text()

                def shot(path: Path) -> None:
                    # The app scrolls inside its own container: grow the window to the content, then shoot.
                    height = page.evaluate("() => document.querySelector('[data-testid=\"stMainBlockContainer\"]')"
                                           ".scrollHeight")
                    page.set_viewport_size({"width": 1400, "height": max(1000, min(int(height) + 120, 8000))})
                    page.wait_for_timeout(500)
                    page.screenshot(path=str(path))
                    page.set_viewport_size({"width": 1400, "height": 1000})

                settled("Overview: tiny-tracenet")
                # Charts draw after the script ends, later still on a loaded machine: wait for the second.
                page.locator('[data-testid="stVegaLiteChart"]').nth(1).wait_for(timeout=60_000)
                assert page.locator('[data-testid="stVegaLiteChart"]').count() >= 2
                assert page.locator('[data-testid="stMetric"]').count() >= 8
                shot(artifacts_dir / "streamlit_app.png")
                sidebar = page.get_by_test_id("stSidebar")
                # The two sections with the most drawing (pictures, a clickable matrix, curves); the others
                # are covered by the AppTest tests above.
                for section, heading in (("Confusion & examples", "Confusion matrix and examples: tiny-tracenet"),
                                         ("Threshold", "Threshold: tiny-tracenet")):
                    sidebar.get_by_text(section, exact=True).click()
                    settled(heading)
                    name = section.split()[0].lower()
                    shot(artifacts_dir / f"streamlit_app_{name}.png")
            finally:
                browser.close()
    finally:
        stop(server)


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is missing (bash setup.sh --test installs it)")
def test_a_reload_keeps_a_signed_in_visitor_in(fake_models, tmp_path):
    """Signed in once, a reload (a new Streamlit session) shows the runs again without the password:
    the browser holds the signed cookie; a browser without it is asked for the password."""
    sync_api = pytest.importorskip("playwright.sync_api")
    server, url, _ = start_from_procfile(fake_models, tmp_path)
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--no-first-run"])
            try:
                page = browser.new_page()
                page.goto(url)
                password = page.locator("input[type=password]")
                password.wait_for(timeout=60_000)
                password.fill(PASSWORD)
                password.press("Enter")
                overview = page.get_by_role("heading", name="Overview: tiny-tracenet").first
                overview.wait_for(timeout=60_000)
                page.wait_for_function("() => document.cookie.includes('render_or_real_door=')", timeout=30_000)
                page.reload()
                overview.wait_for(timeout=60_000)
                assert page.locator("input[type=password]").count() == 0
                stranger = browser.new_page()  # a new context: no cookie
                stranger.goto(url)
                stranger.locator("input[type=password]").wait_for(timeout=60_000)
            finally:
                browser.close()
    finally:
        stop(server)


def test_procfile_serves_the_app_on_the_platform_port(tiny_models, tmp_path):
    """The Procfile's own command, with $PORT as a platform sets it, serves the app headless there."""
    server, url, _ = start_from_procfile(tiny_models, tmp_path)
    try:
        page = urllib.request.urlopen(url, timeout=10).read().decode()
        assert "<title>streamlit</title>" in page.lower()  # the app's page, on the port the platform gave
    finally:
        stop(server)


# ---------------------------------------------------------------- run states, three classes


def test_states_and_three_classes(monkeypatch, tmp_path, models_copy, three_class_run):
    """Each run's state in the picker (current, candidate, demo); failed runs listed with how to go
    on; a three-class run gets a 3x3 confusion matrix."""
    shutil.copytree(three_class_run, models_copy / "runs" / "three")
    demo = models_copy / "runs" / "tiny-rendernet2017"
    m = load(demo)
    m["data"]["synthetic"] = True
    (demo / "metrics.json").write_text(json.dumps(m))
    failed = models_copy / "runs" / "stopped"
    failed.mkdir()
    (failed / "failed.json").write_text(json.dumps({"stage": "export", "reason": "OSError: disk full"}))
    at = app(monkeypatch, models_copy)
    options = at.sidebar.selectbox(key="run").options
    assert "tiny-tracenet (current) · tracenet" in options and "three (candidate) · lite0" in options
    assert "demo · tiny-rendernet2017 (candidate) · rendernet2017" in options
    warning = next(w.value for w in at.warning if "stopped" in w.value)
    assert "Failed run" in warning and "disk full" in warning and "--resume stopped" in warning
    at.sidebar.selectbox(key="run").set_value("three").run()
    at.sidebar.radio(key="section").set_value("Confusion & examples").run()
    assert not at.exception
    cm = confusion_frame(at)
    assert cm.shape == (3, 3) and list(cm.columns) == ["photo", "render", "sketch"]
    assert cm.to_numpy().sum() == load(three_class_run)["test"]["n"]
