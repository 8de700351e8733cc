"""python -m train.publish on run folders written without TensorFlow: what a published page gives away
(a public metrics.json) and what republishing keeps (a host's files, a symbolic link). The page itself
running from a published folder: tests/test_static_site.py."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from train import files, site
from train.publish import main as publish_main
from tests.run_folders import write_run


def published_text(folder: Path) -> str:
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def sourced_run(tmp_path, tiny_data):
    """A run on pictures named by source (file-name prefix), with one skipped file, in tmp/models."""
    data = tmp_path / "secret-data"
    for cls, source in (("photo", "familyalbum"), ("render", "acmestudio")):
        (data / cls).mkdir(parents=True)
        for i, p in enumerate(sorted((tiny_data / cls).iterdir())):
            shutil.copy(p, data / cls / f"{source}_{i}{p.suffix}")
    (data / "photo" / "private-notes.txt").write_text("not a picture")
    models = tmp_path / "secret-models"
    run = write_run(models, "pub", data, created="2026-02-01T00:00:00+00:00")
    # The accuracy per source as training reports it (report.py; write_run leaves it out).
    m = json.loads((run / "metrics.json").read_text())
    m["test"]["by_source"] = {"acmestudio": {"n": 4, "accuracy": 0.75}, "familyalbum": {"n": 4, "accuracy": 1.0}}
    files.write_json(run / "metrics.json", m)
    return run, data, models


def test_the_published_metrics_name_no_server_path_and_no_training_file(tmp_path, sourced_run):
    run, data, models = sourced_run
    full = json.loads((run / "metrics.json").read_text())
    assert full["data"]["skipped"] and "acmestudio" in full["test"]["by_source"]  # there to leak
    out = tmp_path / "site"
    assert publish_main([str(out), "--models", str(models), "--run", "pub"]) == 0
    text = published_text(out)
    for secret in (str(data), str(data.resolve()), str(models), str(models.resolve()), str(tmp_path),
                   "secret-data", "secret-models", "private-notes", full["command"], "acmestudio", "familyalbum"):
        assert secret not in text, secret
    m = json.loads((out / "model" / "metrics.json").read_text())
    assert not {"command", "config", "versions", "timings", "training"} & set(m) and set(m["data"]) == {"synthetic", "counts"}
    # What the page shows (static_site/app.js showRunInfo, classifier.js modelVersion) is all there.
    assert (m["run_id"], m["created"], m["arch"]) == ("pub", full["created"], full["arch"])
    assert m["test"]["accuracy"] == full["test"]["accuracy"] and m["test"]["n"] == full["test"]["n"]
    assert m["model"]["bytes"]["tfjs"] == full["model"]["bytes"]["tfjs"] and m["model"]["served_tfjs"] == "tfjs"
    assert m["data"]["synthetic"] is False and m["unsure"]["target"] == full["unsure"]["target"]
    assert m["test"]["confusion_matrix"] == full["test"]["confusion_matrix"]

    assert publish_main([str(out), "--models", str(models), "--run", "pub", "--with-sources"]) == 0
    m = json.loads((out / "model" / "metrics.json").read_text())
    assert m["test"]["by_source"] == full["test"]["by_source"]
    assert str(data) not in published_text(out) and "private-notes" not in published_text(out)


def test_republishing_keeps_a_hosts_files_and_the_users(tmp_path, fake_models):
    """A gh-pages checkout (.git/, CNAME) takes a first publish; publishing again keeps .git/, CNAME,
    .nojekyll and the user's own files while the page's files are replaced; a publish that fails on the
    way keeps them too."""
    out = tmp_path / "gh-pages"
    (out / ".git" / "objects").mkdir(parents=True)
    (out / ".git" / "HEAD").write_text("ref: refs/heads/gh-pages\n")
    (out / ".git" / "objects" / "ab").write_bytes(b"\x00object")
    (out / "CNAME").write_text("render.example.org\n")
    assert publish_main([str(out), "--models", str(fake_models)]) == 0
    (out / ".nojekyll").write_text("")
    (out / "about").mkdir()
    (out / "about" / "index.html").write_text("<p>mine</p>")
    (out / "index.html").write_text("an old page")  # the page's own: replaced
    assert publish_main([str(out), "--models", str(fake_models), "--run", "tiny-rendernet2017"]) == 0
    assert (out / "CNAME").read_text() == "render.example.org\n" and (out / ".nojekyll").is_file()
    assert (out / ".git" / "HEAD").read_text() == "ref: refs/heads/gh-pages\n"
    assert (out / ".git" / "objects" / "ab").read_bytes() == b"\x00object"
    assert (out / "about" / "index.html").read_text() == "<p>mine</p>"
    assert (out / "index.html").read_text() == (site.SITE / "index.html").read_text()
    assert json.loads((out / site.MARKER).read_text())["run_id"] == "tiny-rendernet2017"

    def broken(*args):
        raise OSError(28, "No space left on device")

    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(site, "copy_model", broken)
        with pytest.raises(OSError):
            site.publish(out, fake_models / "runs" / "tiny-tracenet", ["preprocessing.json"], "tfjs")
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert not list(tmp_path.glob(".gh-pages*"))

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert publish_main([str(tmp_path / "mine"), "--models", str(fake_models)]) == 2  # not a page's folder


def test_publishing_through_a_symbolic_link_publishes_its_target(tmp_path, fake_models):
    target = tmp_path / "www" / "render"
    target.mkdir(parents=True)
    link = tmp_path / "site"
    link.symlink_to(target)
    for _ in range(2):  # a first publish, then again over it
        assert publish_main([str(link), "--models", str(fake_models)]) == 0
        assert link.is_symlink() and link.resolve() == target.resolve()
        assert (target / "index.html").is_file() and (target / "model" / "metrics.json").is_file()
        (target / "CNAME").write_text("render.example.org\n")
    assert (target / "CNAME").read_text() == "render.example.org\n"
