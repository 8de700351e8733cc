"""The synthetic demo data set: deterministic, well formed, written atomically, and free of shortcuts
(size, file format, JPEG quality, content), while the real cue (camera traces) is there."""
from __future__ import annotations

import re
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from train import demo_data
from train.demo_data import make_demo_dataset

N = 60  # pictures per class: enough for the statistics below, generated in about a second
CHANCE_MARGIN = 0.7  # leave-one-out accuracy a shortcut classifier must stay under (chance: 0.5 +- 0.05)
CLASSES = ("photo", "render")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "data"
    summary = make_demo_dataset(out, n_per_class=N, seed=0)
    return out, summary


def files(root: Path, cls: str) -> list[Path]:
    return sorted((root / cls).iterdir())


def load(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


# ---------------------------------------------------------------- statistics


def loo_lookup_accuracy(a: list, b: list) -> float:
    """Leave-one-out accuracy of the best classifier on a discrete feature: predict the majority class
    among the other samples with the same value (a tie counts half)."""
    values, labels = a + b, [0] * len(a) + [1] * len(b)
    counts = Counter(zip(values, labels))
    hits = 0.0
    for v, y in zip(values, labels):
        same, other = counts[(v, y)] - 1, counts[(v, 1 - y)]
        hits += 1.0 if same > other else 0.5 if same == other else 0.0
    return hits / len(values)


def chi2_same_distribution(a: list, b: list) -> bool:
    """Chi-square test of homogeneity of two samples of a discrete feature: False when the two
    distributions differ at p < 0.001 (critical value by the Wilson-Hilferty approximation)."""
    values = sorted(set(a) | set(b), key=repr)
    table = np.array([[Counter(s)[v] for v in values] for s in (a, b)], float)
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    chi2, df = ((table - expected) ** 2 / expected).sum(), len(values) - 1
    if df == 0:
        return True
    return chi2 < df * (1 - 2 / (9 * df) + 3.09 * np.sqrt(2 / (9 * df))) ** 3


def loo_knn_accuracy(a: list, b: list, k: int = 5) -> float:
    """Leave-one-out accuracy of k-nearest-neighbours on standardised feature vectors."""
    x, y = np.array(a + b, np.float64), np.array([0] * len(a) + [1] * len(b))
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    d = ((x[:, None] - x[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    votes = y[np.argsort(d, axis=1)[:, :k]].mean(1)
    return float(((votes > 0.5) == y).mean())


# ---------------------------------------------------------------- features


def file_features(root: Path, cls: str) -> list[tuple]:
    """(size, format, luma DC quantiser of a JPEG or None) per file."""
    out = []
    for path in files(root, cls):
        with Image.open(path) as im:
            out.append((im.size, im.format, im.quantization[0][0] if im.format == "JPEG" else None))
    return out


FILE_VIEWS = {
    "size": lambda f: f[0],
    "orientation": lambda f: (f[0][0] > f[0][1]) - (f[0][0] < f[0][1]),
    "format": lambda f: f[1],
    "jpeg quality": lambda f: f[2],
    "size and format": lambda f: f[:2],
}


def revealing_file_views(photo: list[tuple], render: list[tuple]) -> list[str]:
    """The views of the file properties on which a classifier beats chance or the two classes'
    distributions differ detectably."""
    out = []
    for name, view in FILE_VIEWS.items():
        a, b = [view(f) for f in photo], [view(f) for f in render]
        if loo_lookup_accuracy(a, b) >= CHANCE_MARGIN or not chi2_same_distribution(a, b):
            out.append(name)
    return out


def thumbnail(im: Image.Image) -> np.ndarray:
    """8x8 box-averaged colour thumbnail: the layout and colours of the scene, no fine detail."""
    return np.asarray(im.resize((8, 8), Image.Resampling.BOX), np.float32).ravel()


def looks_outdoor(im: Image.Image) -> bool:
    """Read the scene kind back from the pixels: only facades have a lawn along the bottom edge."""
    a = np.asarray(im, np.float32)
    r, g, b = a[-max(2, a.shape[0] // 16):].reshape(-1, 3).mean(0)
    return g - max(r, b) > 24


def noise_level(im: Image.Image) -> float:
    """Median absolute Laplacian of the grey picture: the median pixel lies in a flat or smoothly
    shaded region, where a render is (almost) exactly smooth and a photo carries sensor noise."""
    g = np.asarray(im.convert("L"), np.float32)
    lap = 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    return float(np.median(np.abs(lap)))


def _picture(kind: str, photo: bool, i: int) -> Image.Image:
    """A picture of a chosen scene kind, made the way the generator makes them (for the controls)."""
    rng = np.random.default_rng([99, int(photo), i])
    w, h = demo_data.SIZES[rng.integers(len(demo_data.SIZES))]
    m = 12  # margin for the tilt, as in the generator
    _, scene = demo_data.draw_scene(rng, w + 2 * m, h + 2 * m, kind)
    im, box = Image.fromarray(demo_data._to_u8(scene)), (m, m, m + w, m + h)
    return demo_data.camera(im, box, rng) if photo else im.crop(box)


# ---------------------------------------------------------------- determinism and layout


def test_same_seed_same_bytes_and_different_seed_differs(demo, tmp_path):
    root, _ = demo
    make_demo_dataset(tmp_path / "again", n_per_class=6, seed=0)
    make_demo_dataset(tmp_path / "other", n_per_class=6, seed=1)
    for cls in CLASSES:
        again = files(tmp_path / "again", cls)
        # each picture has its own random stream, so a smaller set is a byte-identical prefix
        assert [p.read_bytes() for p in again] == [(root / cls / p.name).read_bytes() for p in again]
        other = {p.name: p.read_bytes() for p in files(tmp_path / "other", cls)}
        assert all(other.get(p.name) != p.read_bytes() for p in again)


def test_layout_counts_names_and_pictures(demo):
    root, summary = demo
    assert sorted(p.name for p in root.iterdir()) == ["photo", "render"]
    assert summary["synthetic"] is True
    assert summary["counts"] == {"photo": N, "render": N}
    assert summary["seconds"] >= 0
    for cls in CLASSES:
        paths = files(root, cls)
        # both folders are numbered the same way: names say nothing about the class
        assert [p.stem for p in paths] == [f"img_{i:06d}" for i in range(N)]
        assert all(re.fullmatch(r"img_\d{6}\.(jpg|png)", p.name) for p in paths)
        assert sum(summary["scene_kinds"][cls].values()) == N
        for p in paths:
            with Image.open(p) as im:
                im.load()
                assert im.mode == "RGB"
                assert im.format == {".jpg": "JPEG", ".png": "PNG"}[p.suffix]
                assert 160 <= min(im.size) and max(im.size) <= 320


# ---------------------------------------------------------------- no shortcuts


def test_file_properties_do_not_reveal_the_class(demo):
    root, _ = demo
    assert revealing_file_views(file_features(root, "photo"), file_features(root, "render")) == []


@pytest.mark.parametrize("doctor", [
    lambda f: (f[0], "PNG", None),  # renders all PNG
    lambda f: ((256, 256), f[1], f[2]),  # all one size
    lambda f: ((320, 240) if f[0][0] == f[0][1] else f[0], f[1], f[2]),  # never square
    lambda f: (f[0], f[1], None if f[2] is None else f[2] + 2),  # JPEG quality about 7 points lower
], ids=["all-png", "one-size", "never-square", "lower-quality"])
def test_the_file_property_check_would_catch_a_shortcut(demo, doctor):
    root, _ = demo
    render = [doctor(f) for f in file_features(root, "render")]
    assert revealing_file_views(file_features(root, "photo"), render)


def test_scene_kinds_are_balanced_between_classes(demo):
    _, summary = demo
    photo, render = (list(Counter(summary["scene_kinds"][cls]).elements()) for cls in CLASSES)
    assert chi2_same_distribution(photo, render)


def test_content_does_not_reveal_the_class(demo):
    """Read from the pixels: indoor/outdoor shares match, and a nearest-neighbour classifier on blurred
    8x8 thumbnails (scene layout and colours) stays at chance."""
    root, _ = demo
    pictures = {cls: [load(p) for p in files(root, cls)] for cls in CLASSES}
    assert chi2_same_distribution(*([looks_outdoor(im) for im in pictures[cls]] for cls in CLASSES))
    assert loo_knn_accuracy(*([thumbnail(im) for im in pictures[cls]] for cls in CLASSES)) < CHANCE_MARGIN


def test_the_content_check_would_catch_a_shortcut():
    """The same checks fail if the classes' content differs (photos of rooms against renders of
    facades), camera simulation and all; and the outdoor reading is right."""
    rooms = [_picture("room", True, i) for i in range(40)]
    facades = [_picture("facade", False, i) for i in range(40)]
    assert not any(map(looks_outdoor, rooms)) and all(map(looks_outdoor, facades))
    assert loo_knn_accuracy([thumbnail(im) for im in rooms], [thumbnail(im) for im in facades]) > 0.9


# ---------------------------------------------------------------- the real cue


def test_camera_traces_separate_the_classes(demo):
    root, _ = demo
    photo, render = (np.array([noise_level(load(p)) for p in files(root, cls)]) for cls in CLASSES)
    auc = (photo[:, None] > render[None]).mean() + 0.5 * (photo[:, None] == render[None]).mean()
    assert auc > 0.9, f"median noise: photos {np.median(photo)}, renders {np.median(render)}"


# ---------------------------------------------------------------- written atomically


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_an_interrupted_generation_leaves_nothing(tmp_path, monkeypatch, error):
    out = tmp_path / "data"
    real, calls, lock = demo_data._make_one, [0], threading.Lock()

    def failing(stem, photo, rng):
        assert not out.exists() and stem.parent.parent.parent == tmp_path  # written in a sibling folder
        with lock:
            calls[0] += 1
            if calls[0] == 5:
                raise error("interrupted")
        return real(stem, photo, rng)

    monkeypatch.setattr(demo_data, "_make_one", failing)
    with pytest.raises(error):
        make_demo_dataset(out, n_per_class=6, seed=0)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_refused_and_left_alone(tmp_path):
    out = tmp_path / "data"
    (out / "photo").mkdir(parents=True)
    (out / "photo" / "mine.jpg").write_bytes(b"mine")
    with pytest.raises(FileExistsError):
        make_demo_dataset(out, n_per_class=2, seed=0)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["data", "mine.jpg", "photo"]


def test_a_finished_generation_leaves_no_temporary_folder(demo):
    root, _ = demo
    assert [p.name for p in root.parent.iterdir()] == [root.name]
