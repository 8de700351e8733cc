"""Shared fixtures: a tiny synthetic data set, tiny training runs made once per test session, and run
folders written without TensorFlow (fake_models) for the registry's and the app's tests.

Markers (see README, Tests): `slow` for every test that trains, itself or through a trained session
fixture (marked here from the fixtures it uses); `browser` for every test that drives Chromium. The fast
subset, `python -m pytest -m "not slow and not browser"`, is what to run while working."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"
ARTIFACTS = ROOT / "test-artifacts"  # screenshots and other things kept from a test run


TRAINED = {"tiny_models", "lite0_run", "three_class_run", "tiny_run", "tiny_site_model", "models_copy"}


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: trains a model, in the test or through a trained session fixture")
    config.addinivalue_line("markers", "browser: drives Chromium (Playwright)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & TRAINED:
            item.add_marker(pytest.mark.slow)
        if "browser" in used:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """40 demo pictures per class (render/photo), generated in a second."""
    from train.demo_data import make_demo_dataset

    root = tmp_path_factory.mktemp("tiny") / "data"
    make_demo_dataset(root, n_per_class=40, seed=1)
    return root


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory, tiny_data) -> Path:
    """A models/ folder with two complete runs made by `python -m train` itself:
    runs/tiny-rendernet2017 and runs/tiny-tracenet (the current one). The static-site model folder
    they refresh is <tmp>/site/model."""
    from train.pipeline import main

    base = tmp_path_factory.mktemp("trained")
    models, site = base / "models", base / "site"
    # float32 served bundle: the browser tests hold the page to model.keras at 1e-3, which is exact
    # arithmetic; the quantized default is covered by test_quantized_bundle_is_served_and_measured.
    common = ["--data", str(tiny_data), "--models", str(models), "--static-site", str(site),
              "--epochs", "2", "--seed", "3", "--batch-size", "16", "--quantize", "float32", "--force"]
    assert main(common + ["--arch", "rendernet2017", "--image-size", "64", "--run-id", "tiny-rendernet2017"]) == 0
    assert main(common + ["--arch", "tracenet", "--image-size", "32", "--grid", "2",
                          "--run-id", "tiny-tracenet"]) == 0
    return models


@pytest.fixture(scope="session")
def lite0_run(tmp_path_factory, tiny_data) -> Path:
    """A run of the default recipe (lite0) on the tiny data set, made by `python -m train` itself, with
    the served (mixed) bundle; its site model folder is <run>/../../../site/model."""
    from train.pipeline import main

    base = tmp_path_factory.mktemp("lite0")
    assert main(["--data", str(tiny_data), "--models", str(base / "models"), "--static-site", str(base / "site"),
                 "--run-id", "tiny-lite0", "--seed", "2"]) == 0
    return base / "models" / "runs" / "tiny-lite0"


@pytest.fixture(scope="session")
def three_class_run(tmp_path_factory, tiny_data) -> Path:
    """A default-recipe run on three classes: the tiny photos and renders, and "sketch": the renders
    as grey line drawings (PIL's edge filter)."""
    from PIL import Image, ImageFilter, ImageOps

    from train.pipeline import main

    base = tmp_path_factory.mktemp("three")
    data = base / "data"
    for cls in ("photo", "render"):
        shutil.copytree(tiny_data / cls, data / cls)
    (data / "sketch").mkdir()
    for p in sorted((tiny_data / "render").iterdir()):
        edges = ImageOps.invert(Image.open(p).convert("L").filter(ImageFilter.FIND_EDGES))
        edges.convert("RGB").save(data / "sketch" / f"{p.stem}.png")
    assert main(["--data", str(data), "--models", str(base / "models"), "--static-site", "",
                 "--run-id", "three", "--quantize", "float32"]) == 0
    return base / "models" / "runs" / "three"


@pytest.fixture(scope="session")
def tiny_run(tiny_models) -> Path:
    """The current (tracenet, crops view) run folder."""
    return (tiny_models / "current").resolve()


@pytest.fixture(scope="session")
def tiny_site_model(tiny_models) -> Path:
    """The static-site model folder refreshed by the tiny training (TF.js files + JSON)."""
    return tiny_models.parent / "site" / "model"


@pytest.fixture
def models_copy(tmp_path, tiny_models) -> Path:
    """A private copy of the tiny models folder, for tests that damage or add runs."""
    dst = tmp_path / "models"
    shutil.copytree(tiny_models, dst, symlinks=True)
    return dst


@pytest.fixture
def fake_models(tmp_path, tiny_data) -> Path:
    """A models/ folder shaped like tiny_models (runs/tiny-rendernet2017, runs/tiny-tracenet current) on
    the tiny pictures, written without TensorFlow in a moment (tests/run_folders.py): for tests of the
    registry and the app that read run folders but run no model."""
    from tests.run_folders import write_models

    return write_models(tmp_path / "models", tiny_data)


@pytest.fixture
def predict_models(fake_models) -> Path:
    """fake_models whose current run holds a real (untrained, tiny) model.keras: train.predict runs on it
    in a second, for its file and CSV handling."""
    from tests.run_folders import write_tiny_model

    write_tiny_model((fake_models / "current").resolve())
    return fake_models
