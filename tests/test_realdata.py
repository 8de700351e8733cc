"""The real-pictures benchmark: its group-aware folds and a smoke run of its code path.

Needs ../shared/realdata beside the project (skipped with the reason otherwise). Nothing here depends
on how accurate the recipe is: that is what `python -m benchmarks.realdata` is for.
"""
from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pytest

from benchmarks import realdata as bench
from train.data import discover, group_key

from tests.conftest import REALDATA

pytestmark = pytest.mark.skipif(not (REALDATA / "photo").is_dir() or not (REALDATA / "render").is_dir(),
                                reason=f"{REALDATA} (the real pictures) is not there")


@pytest.fixture(scope="module")
def real_items():
    class_names, items, skipped = discover(REALDATA, (1.0, 0.0, 0.0), bench.GROUP_PATTERN)
    assert class_names == ["photo", "render"] and not skipped
    return class_names, items


def house_or_project(name: str) -> str:
    """An independent, stricter reading of the file names: the house number, or the render name with
    trailing view numbers/letters taken off."""
    stem = Path(name).stem
    m = re.match(r"houses_(\d+)_", stem)
    if m:
        return "houses_" + m.group(1)
    if stem.startswith("kuhn_"):
        return stem.rsplit("_", 1)[0]
    return re.sub(r"-\d+$", "", re.sub(r"-r\d+[a-z]?$", "", stem))


def test_the_group_pattern_matches_every_file_and_keeps_houses_and_projects_together(real_items):
    _, items = real_items
    keys = {}
    for it in items:
        assert re.search(bench.GROUP_PATTERN, Path(it.rel).name), it.rel  # never falls back to the file
        keys.setdefault(house_or_project(it.rel), set()).add(group_key(it.rel, bench.GROUP_PATTERN))
    # Pictures of one house or project always share a group (a group may hold several projects).
    assert all(len(v) == 1 for v in keys.values()), {k: v for k, v in keys.items() if len(v) > 1}
    assert len({k for k in keys if k.startswith("houses_")}) > 50  # houses are not lumped together


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_folds_never_put_one_group_on_both_sides_and_are_balanced(real_items, seed):
    _, items = real_items
    k = 5
    folds = bench.assign_folds(items, k, seed)
    by_group = defaultdict(set)
    for it, f in zip(items, folds):
        by_group[(it.label, group_key(it.rel, bench.GROUP_PATTERN))].add(f)
    assert all(len(s) == 1 for s in by_group.values())
    for label in (0, 1):
        sizes = [sum(1 for it, f in zip(items, folds) if it.label == label and f == i) for i in range(k)]
        assert min(sizes) > 0 and max(sizes) - min(sizes) <= max(6, 0.5 * max(sizes)), sizes
    for test_fold in range(k):
        split = bench.fold_items(items, folds, test_fold, 0.15, seed, bench.GROUP_PATTERN)
        sides = defaultdict(set)
        for it in split:
            sides[group_key(it.rel, bench.GROUP_PATTERN)].add(it.split)
        assert all(len(s) == 1 for s in sides.values())  # train / val / test never share a group
        assert {it.split for it in split} == {"train", "val", "test"}


def test_every_seed_draws_a_new_partition(real_items):
    _, items = real_items
    assert bench.assign_folds(items, 5, 0) != bench.assign_folds(items, 5, 1)
    assert bench.assign_folds(items, 5, 0) == bench.assign_folds(items, 5, 0)


def test_sources_and_interiors_from_names():
    assert bench.source_of("x/houses_12_kitchen.jpg") == "houses"
    assert bench.is_interior("houses_12_kitchen.jpg", "photo")
    assert not bench.is_interior("houses_12_frontal.jpg", "photo")
    assert bench.is_interior("luisa_living-room-2.jpg", "render")
    assert bench.is_interior("wayfair_ALTH4311-r0.jpg", "render")
    assert not bench.is_interior("archvizual_project-117-3.jpg", "render")


@pytest.mark.slow
def test_quick_benchmark_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench.main(["--data", str(REALDATA), "--quick", "--archs", "tracenet", "--no-browser",
                       "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "\n| metric | tracenet |\n" in "\n" + printed
    for row in ("balanced accuracy", "ROC AUC", "accuracy houses", "accuracy interiors only", "parameters",
                "TF.js bytes uint8", "Keras pictures/s", "training s per run"):
        assert f"| {row}" in printed
    got = json.loads(out.read_text())
    r = got["results"][0]
    assert r["arch"] == "tracenet" and len(r["runs"]) == 2 and got["folds"] == 2
    assert 0 <= r["balanced_accuracy"][0] <= 1 and r["params"] > 1000
    assert sum(run["n_test"] for run in r["runs"]) == got["pictures"]  # every picture held out once
    assert set(r["tfjs_bytes"]) == {"float32", "float16", "uint8", "mixed"}
    assert r["tfjs_bytes"]["uint8"] < r["tfjs_bytes"]["float16"] < r["tfjs_bytes"]["float32"]


@pytest.mark.slow
def test_leave_one_source_out_benchmark_runs(tmp_path, capsys):
    from benchmarks import sources

    out = tmp_path / "loso.json"
    assert sources.main(["--data", str(REALDATA), "--quick", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    for row in ("mean recall over held-out sources", "worst source", "pooled balanced accuracy",
                "answered (not unsure)", "accuracy when answered"):
        assert f"| {row}" in printed
    r = json.loads(out.read_text())["results"][0]
    assert r["sources"] == 4 and r["pictures"] == sum(v["n"] for v in r["per_source"].values())
    assert all(0 <= v["recall"] <= 1 and v["class"] in ("photo", "render") for v in r["per_source"].values())
    assert {v["class"] for v in r["per_source"].values()} == {"photo", "render"}  # both kinds held out
