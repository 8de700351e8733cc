"""Any file name (README, "CSV files"): names that are not UTF-8, hold CR or LF, or start like a spreadsheet
formula never stop training or prediction; train.predict's CSV is spreadsheet-safe and its rows come back
through --resume, one per file; a path that does not exist is an error, not a row."""
from __future__ import annotations

import csv
import hashlib
import io
import os
import sys
from pathlib import Path

import pytest
from PIL import Image

from train import runs
from train.csvfile import open_csv, spreadsheet_safe
from train.data import discover, stable_unit
from train.predict import main as predict_main

NOT_UTF8 = [b"caf\xe9.png", b"\xff\xfe.png", b"plain.png"]
LINE_BREAKS = [b"cr\rname.png", b"lf\nname.png", b"crlf\r\nname.png", b"plain.png"]
ODD_NAMES = NOT_UTF8 + LINE_BREAKS[:-1]
FORMULA_NAMES = ["=1+2.png", "+sum.png", "-2.png", "@cmd.png", "\ttab.png", "\rcr.png"]


def picture(path, value=128):
    Image.new("RGB", (80, 70), (value, 255 - value, 90)).save(os.fsencode(path), format="PNG")


def pictures(folder: Path, names) -> list[str]:
    """Pictures at folder/name for each name (bytes or str) -> their paths as train.predict gets them."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, name in enumerate(names):
        path = os.fsencode(folder) + b"/" + (name if isinstance(name, bytes) else os.fsencode(name))
        picture(path, 20 * i)
        paths.append(os.fsdecode(path))
    return paths


def csv_rows(path) -> list[list[str]]:
    with open_csv(path) as f:
        return list(csv.reader(f))


def test_a_missing_path_is_an_error_naming_it(predict_models, tmp_path, capsys):
    """A typo in a batch job: exit 2 and one line naming every path that is not there, before any model
    is loaded or any row written."""
    [real] = pictures(tmp_path, ["real.png"])
    out = tmp_path / "out.csv"
    assert predict_main(["does-not-exist/", real, "gone.jpg", "--models", str(predict_models), "--csv", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: does-not-exist/, gone.jpg: no such file or folder"]
    assert not out.exists()
    assert predict_main([real, "--models", str(predict_models)]) == 0  # the same job without the typos runs


@pytest.mark.parametrize("names", [NOT_UTF8, LINE_BREAKS], ids=["not-utf8", "line-breaks"])
def test_predict_csv_round_trips_any_name_through_resume(predict_models, tmp_path, capsys, names):
    """Names with bytes that are not UTF-8, or with CR, LF or CRLF: one row each, whose path cell is the
    file's own name again; a job killed in the middle of a quoted cell resumes to one row per file."""
    paths = pictures(tmp_path / "pics", names)
    out = tmp_path / "out.csv"
    job = [str(tmp_path / "pics"), "--models", str(predict_models), "--csv", str(out)]
    assert predict_main(job) == 0
    rows = csv_rows(out)
    assert sorted(r[0] for r in rows[1:]) == sorted(paths)
    assert all(r[-1] == "" and r[1] for r in rows[1:]), rows  # every one classified, none an error
    assert all(os.fsencode(p) in out.read_bytes() for p in paths)  # the names' own bytes, as on disk

    # Killed after two rows, in the middle of the third one's quoted path.
    buf = io.StringIO()
    csv.writer(buf).writerows(rows[:3])
    cut = buf.getvalue() + '"' + str(tmp_path / "pics" / "lf\nna")
    partial = tmp_path / ".out.csv.partial"
    with open_csv(partial, "w") as f:
        f.write(cut)
    out.unlink()
    assert predict_main(job + ["--resume"]) == 0
    assert "2 rows kept from before" in capsys.readouterr().err
    resumed = csv_rows(out)
    assert sorted(map(tuple, resumed[1:])) == sorted(map(tuple, rows[1:]))


def test_stdout_keeps_a_names_bytes(predict_models, tmp_path, monkeypatch):
    """Without --csv the rows go to stdout, a name that is not UTF-8 with its bytes (as `ls` prints it)."""
    pictures(tmp_path / "pics", [b"caf\xe9.png"])
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="")
    monkeypatch.setattr(sys, "stdout", stdout)
    assert predict_main([str(tmp_path / "pics"), "--models", str(predict_models)]) == 0
    stdout.flush()
    assert os.fsencode(tmp_path) + b"/pics/caf\xe9.png," in stdout.buffer.getvalue()


def test_formula_cells_are_prefixed_and_still_resumed(predict_models, tmp_path, monkeypatch):
    """Paths starting with =, +, -, @, tab or CR get a leading single quote in the CSV (OWASP); --resume
    recognises the rows so written and classifies only the rest."""
    monkeypatch.chdir(tmp_path)
    pictures(Path("."), FORMULA_NAMES)
    (Path(".") / "=broken.png").write_bytes(b"not a picture")  # the error cell starts with the path too
    names = FORMULA_NAMES + ["=broken.png"]
    out = Path("out.csv")
    assert predict_main(["--models", str(predict_models), "--csv", str(out), "--", *names]) == 0
    rows = csv_rows(out)
    assert sorted(r[0] for r in rows[1:]) == sorted("'" + n for n in names)
    broken = next(r for r in rows if r[0] == "'=broken.png")
    assert broken[-1].startswith("'=broken.png: ")
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for r in rows for cell in r)

    partial = Path(".out.csv.partial")
    with open_csv(partial, "w") as f:
        csv.writer(f).writerows(rows[:4])
    out.unlink()
    assert predict_main(["--models", str(predict_models), "--csv", str(out), "--resume", "--", *names]) == 0
    assert sorted(map(tuple, csv_rows(out)[1:])) == sorted(map(tuple, rows[1:]))

    # A CSV written before the rule (paths as they are) resumes too, and comes out spreadsheet-safe.
    with open_csv(partial, "w") as f:
        csv.writer(f).writerows([rows[0]] + [[c.removeprefix("'") for c in r] for r in rows[1:4]])
    out.unlink()
    assert predict_main(["--models", str(predict_models), "--csv", str(out), "--resume", "--", *names]) == 0
    assert sorted(map(tuple, csv_rows(out)[1:])) == sorted(map(tuple, rows[1:]))


def test_spreadsheet_safe_is_the_owasp_rule():
    assert [spreadsheet_safe(c) for c in ["=A1", "+1", "-1", "@x", "\tx", "\rx", "a=b", "", "'=x"]] == \
        ["'=A1", "'+1", "'-1", "'@x", "'\tx", "'\rx", "a=b", "", "'=x"]


def test_training_data_with_any_name_is_split_and_reported(tmp_path):
    """discover() hashes a name's bytes for its split (UTF-8 names keep theirs), and predictions.csv keeps
    every name exactly: the registry and the app read it back."""
    from tests.run_folders import write_run

    data = tmp_path / "data"
    for cls in ("photo", "render"):
        pictures(data / cls, [n.replace(b".png", b"-%d.png" % i) for n in ODD_NAMES for i in range(6)])
    class_names, items, skipped = discover(data, group_pattern="none")
    assert len(items) == 2 * 6 * len(ODD_NAMES) and not skipped
    # A UTF-8 name hashes as before, so no existing picture moves to another split.
    assert stable_unit("houses_12/kitchen.jpg") == int.from_bytes(
        hashlib.sha1("houses_12/kitchen.jpg".encode()).digest()[:8], "big") / 2**64
    run = write_run(tmp_path / "models", "odd", data, ["--group-pattern", "none"])
    scored = runs.predictions(run)
    odd = [p for p in scored if "\udce9" in p or "\r" in p or "\n" in p]
    assert odd and all(os.path.isfile(p) for p in scored)


def test_training_pipeline_decodes_a_name_that_is_not_utf8(tmp_path):
    """The tf.data pipeline carries a path's bytes: a name that is not UTF-8 is decoded, not an error."""
    from train.data import DecodeFailures, Item, evaluation_dataset
    from train.preprocess import Spec

    [path] = pictures(tmp_path, [b"caf\xe9.png"])
    failures = DecodeFailures()
    spec = Spec(class_names=("photo", "render"), input_size=32, view="whole")
    ds = evaluation_dataset([Item(path, "caf\udce9.png", 0, "val")], "val", spec, 4, failures)
    [(x, y)] = list(ds)
    assert x.shape == (1, 32, 32, 3) and not failures.seen


def test_lite0_features_of_a_name_that_is_not_utf8_land_and_read_back(tmp_path, monkeypatch):
    """The default recipe's features job (lite0_head.embed through features.embed_job, as `python -m
    train` runs it) embeds such a picture and keeps it in its chunk file, read back by key."""
    import keras

    from train import features, model
    from train.data import DecodeFailures, Item
    from train.preprocess import Spec

    pixels = keras.Input((None, None, 3))
    tiny = keras.Model(pixels, keras.layers.GlobalAveragePooling2D()(pixels))
    monkeypatch.setattr(model, "lite0_features", lambda: tiny)  # stands in for the frozen backbone
    monkeypatch.setattr(features, "_worker_model", {})
    paths = pictures(tmp_path / "pics", [b"caf\xe9.png", b"lf\nname.png"])
    items = [Item(p, Path(p).name, 0, "train") for p in paths]
    spec = Spec(class_names=("photo", "render"), input_size=32, view="picture", max_side=64)
    failures = DecodeFailures()
    got = features.embed_job(items, spec, tmp_path / "job", failures, engine=None)
    assert len(got) == 2 and not failures.seen
    assert features.read_chunks(tmp_path / "job")[0].keys() == got.keys()
