"""Discovery, the stable split, class weights, and every bad-input path of `python -m train`."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tests.test_preprocess import png_header_only
from train import data
from train.pipeline import main


def picture(path, value=128, size=(24, 20)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(path)


def make_tree(root, spec: dict[str, int], ext="png"):
    for cls, n in spec.items():
        for i in range(n):
            picture(root / cls / f"sub{i % 3}" / f"{cls}_{i:04d}.{ext}", value=(i * 37) % 255)


def test_discovery_classes_sorted_recursive_and_any_extension(tmp_path):
    make_tree(tmp_path, {"kitchen": 5, "bathroom": 4, "attic": 3})
    picture(tmp_path / "kitchen" / "deep" / "er" / "x.JPG")
    (tmp_path / "kitchen" / ".DS_Store").write_bytes(b"junk")
    (tmp_path / ".hidden_class").mkdir()
    names, items, skipped = data.discover(tmp_path)
    assert names == ["attic", "bathroom", "kitchen"]  # three classes, not two
    assert sum(it.label == 2 for it in items) == 6  # nested folders and upper-case extensions count
    assert skipped == []
    assert {it.rel for it in items if it.label == 2} >= {"deep/er/x.JPG", "sub0/kitchen_0000.png"}


def test_split_is_stable_when_pictures_are_added(tmp_path):
    make_tree(tmp_path, {"a": 60, "b": 60})
    _, before, _ = data.discover(tmp_path)
    make_tree(tmp_path / "more", {"a": 0})  # unrelated folder outside the classes is not a class
    for i in range(60, 200):
        picture(tmp_path / "a" / "new" / f"n{i}.png")
    _, after, _ = data.discover(tmp_path)
    old = {it.path: it.split for it in before}
    assert all(old[it.path] == it.split for it in after if it.path in old)
    assert len(after) == len(before) + 140
    splits = [it.split for it in after]
    # 80/10/10 on average: every split is used, train the largest
    assert splits.count("train") > splits.count("val") > 0 and splits.count("test") > 0


def test_split_fractions_and_group_pattern(tmp_path):
    for house in range(30):
        for room in ("kitchen", "bedroom", "bath"):
            picture(tmp_path / "photo" / f"houses_{house}_{room}.png")
            picture(tmp_path / "render" / f"studio{house}_{room}.png")
    _, items, _ = data.discover(tmp_path, (0.5, 0.25, 0.25), group_pattern=r"^([a-z]+_?\d+)_")
    by_group = {}
    for it in items:
        by_group.setdefault((it.label, it.rel.rsplit("_", 1)[0]), set()).add(it.split)
    assert all(len(s) == 1 for s in by_group.values())  # a house never straddles two splits
    assert {it.split for it in items} == {"train", "val", "test"}


def test_class_weights_only_when_imbalanced(tmp_path):
    items = [data.Item(f"{i}", f"{i}", 0 if i < 30 else 1, "train") for i in range(40)]
    w = data.class_weights(items, 2)
    assert w[1] > 1 > w[0] and np.isclose(30 * w[0] + 10 * w[1], 40)
    balanced = [data.Item(f"{i}", f"{i}", i % 2, "train") for i in range(40)]
    assert data.class_weights(balanced, 2) is None


def test_non_pictures_are_skipped_and_reported(tmp_path, capsys):
    make_tree(tmp_path, {"a": 3, "b": 3})
    (tmp_path / "a" / "notes.txt").write_text("hello")
    (tmp_path / "a" / "fake.jpg").write_text("not a jpeg")
    names, items, skipped = data.discover(tmp_path)
    assert len(items) == 6
    assert {s["path"] for s in skipped} == {str(tmp_path / "a" / "notes.txt"), str(tmp_path / "a" / "fake.jpg")}
    err = capsys.readouterr().err
    assert "fake.jpg" in err and "notes.txt" in err


def test_folders_and_links_that_cannot_be_walked_are_counted(tmp_path, capsys, monkeypatch):
    """An unreadable sub-folder, links to nothing and links that loop: one warning line per kind with its
    count, each listed among the skipped files; a link to a folder elsewhere is followed."""
    import os

    make_tree(tmp_path / "data", {"a": 3, "b": 3})
    a = tmp_path / "data" / "a"
    picture(a / "locked" / "inside.png")
    (a / "gone.png").symlink_to(tmp_path / "nowhere.png")
    (a / "gone2.png").symlink_to("missing.png")
    (a / "sub0" / "up").symlink_to("..")  # leads back into the folder it is in
    (a / "self.png").symlink_to("self.png")  # a link to itself
    picture(tmp_path / "elsewhere" / "linked.png")
    (a / "more").symlink_to(tmp_path / "elsewhere")
    real_scandir = os.scandir

    def scandir(path):  # as a folder without read permission behaves for a user who is not root
        if str(path) == str(a / "locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(data.os, "scandir", scandir)
    names, items, skipped = data.discover(tmp_path / "data")
    assert {it.rel for it in items if it.label == 0} == {"sub0/a_0000.png", "sub1/a_0001.png", "sub2/a_0002.png",
                                                         "more/linked.png"}
    err = [line for line in capsys.readouterr().err.splitlines() if " skipped: " in line]
    assert len(err) == 3, err
    assert any(line.startswith("warning: 1 unreadable folders skipped: ") and "locked" in line for line in err)
    assert any(line.startswith("warning: 2 dangling symbolic links skipped: ") for line in err)
    assert any(line.startswith("warning: 2 looping symbolic links skipped: ") for line in err)
    assert {s["path"] for s in skipped} == {str(a / n) for n in ("locked", "gone.png", "gone2.png", "sub0/up", "self.png")}


def test_the_same_picture_in_two_classes_is_warned_and_listed(tmp_path, capsys):
    from tests.run_folders import write_run

    data_dir = tmp_path / "data"
    make_tree(data_dir, {"photo": 12})
    for i in range(12):
        picture(data_dir / "render" / f"render_{i:04d}.png", value=200 - i)
    twin = data_dir / "render" / "copied.png"
    twin.write_bytes((data_dir / "photo" / "sub1" / "photo_0004.png").read_bytes())
    names, items, skipped = data.discover(data_dir)
    err = [line for line in capsys.readouterr().err.splitlines() if "two classes" in line]
    assert len(err) == 1 and "photo/sub1/photo_0004.png = render/copied.png" in err[0]
    assert sum(bool(it.same_as_other_class) for it in items) == 2
    run = write_run(tmp_path / "models", "twins", data_dir)
    [listed] = json.loads((run / "metrics.json").read_text())["data"]["in_two_classes"]
    assert sorted(listed["paths"]) == [str(data_dir / "photo" / "sub1" / "photo_0004.png"), str(twin)]


def snapshot(models):
    return sorted((str(p.relative_to(models)), p.stat().st_mtime_ns) for p in models.rglob("*")) if models.exists() else []


@pytest.mark.parametrize("case,expected", [
    ("missing", "data folder not found"),
    ("single_class", "need at least 2 class folders"),
    ("empty_class", "has no readable pictures"),
    ("only_junk_class", "has no readable pictures"),
    ("only_bombs_class", "has no readable pictures"),
])
def test_bad_data_exits_2_with_one_line_and_leaves_models_alone(tmp_path, capsys, models_copy, case, expected):
    root = tmp_path / "d"
    if case != "missing":
        make_tree(root, {"a": 4} if case == "single_class" else {"a": 4, "b": 4})
    if case == "empty_class":
        (root / "c").mkdir()
    if case == "only_junk_class":
        (root / "c").mkdir()
        (root / "c" / "broken.png").write_bytes(b"\x89PNG garbage")
    if case == "only_bombs_class":
        (root / "c").mkdir()
        png_header_only(root / "c" / "huge.png", 40000, 40000)
    before = snapshot(models_copy)
    code = main(["--data", str(root), "--models", str(models_copy), "--static-site", str(tmp_path / "site"),
                 "--epochs", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("error: ") and expected in err[-1]
    named = {"missing": "d", "single_class": "d", "empty_class": "c", "only_junk_class": "c", "only_bombs_class": "c"}[case]
    assert named in err[-1]
    assert snapshot(models_copy) == before
    assert not (tmp_path / "site").exists()


def test_command_line_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--split", "80/20"])
    assert e.value.code == 2 and "--split" in capsys.readouterr().err


def test_the_command_line_builds_one_train_config():
    """`python -m train` flags and the benchmarks' variant flags become one TrainConfig, with the
    architecture's defaults filled in; what make_spec reads."""
    from train.config import config_from_argv, make_spec
    from train.config import TrainConfig

    config = config_from_argv(["--arch", "tracenet", "--no-augment", "--split", "70/20/10", "--grid", "3",
                               "--slice", "kitchens=kitchen"])
    assert config == TrainConfig(arch="tracenet", augment=False, fractions=(0.7, 0.2, 0.1), grid=3,
                                 slices={"kitchens": "kitchen"}, image_size=64, max_side=512, quantize="float16")
    assert config_from_argv([]) == TrainConfig().resolved() and TrainConfig().resolved().quantize == "mixed"
    spec, positive = make_spec(config, ["photo", "render"])
    assert (spec.view, spec.input_size, spec.grid, spec.max_side, positive) == ("crops", 64, 3, 512, 1)
    with pytest.raises(ValueError, match="unknown architecture"):
        TrainConfig(arch="resnet").resolved()


def test_progress_lines_name_the_count_and_the_rate():
    import io

    from train.progress import Progress

    out = io.StringIO()
    with Progress("features", 3, every_s=0, stream=out) as bar:
        for _ in range(3):
            bar.add()
    lines = out.getvalue().splitlines()
    assert [ln.split(",")[0] for ln in lines] == ["features: 1/3 pictures", "features: 2/3 pictures",
                                                  "features: 3/3 pictures"]
    assert all("pictures/s" in ln for ln in lines) and lines[-1].endswith(" s)")
    quiet = io.StringIO()
    with Progress("predict", 5, quiet_below=50, stream=quiet) as bar:
        bar.add(5)
    assert quiet.getvalue() == ""  # short jobs stay quiet
