"""The static site in a real browser: Debian's Chromium driven by Playwright, the page served from a temp
copy of static_site/ whose model/ was trained in this test session.

Needs /usr/bin/chromium (`bash setup.sh --test`) and static_site/vendor (`npm --prefix static_site ci`
then `run build`); skips with the reason when either is missing. The geometry and header-sniffing
checks need only Node.js.
"""
from __future__ import annotations

import base64
import json
import re
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.browser_bench import BenchError, Server, wait_for
from train.site import copy_to_static_site
from train.predict import predict_files
from train.site import PAGE_FILES
from train.preprocess import SPEC_FILE, Spec, load_rgb, model_input
from train.files import size_text
from train.runs import load_run_model
from train.tfjs_node import missing as tfjs_missing

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "static_site"
CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
SITE_FILES = PAGE_FILES
BAD_FILES = {"notes.jpg", "corrupt.jpg", "huge.png"}
TIMEOUT_S = 90


def _browser_missing() -> str | None:
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} not installed (bash setup.sh --test)"
    if not (SITE / "vendor" / "runtime.json").is_file():
        return "static_site/vendor missing (npm --prefix static_site ci && npm --prefix static_site run build)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "python playwright not installed"
    return None


needs_browser = pytest.mark.skipif(_browser_missing() is not None, reason=str(_browser_missing()))
needs_node = pytest.mark.skipif(tfjs_missing() is not None, reason=f"TF.js in Node unavailable: {tfjs_missing()}")


# ---------------------------------------------------------------- serving


def make_site(dst: Path, model_dir: Path | None) -> Path:
    """A deployable copy of the site (page + vendor/) with model_dir as its model/ (None: no model)."""
    dst.mkdir(parents=True)
    for name in SITE_FILES:
        shutil.copy2(SITE / name, dst / name)
    shutil.copytree(SITE / "vendor", dst / "vendor")
    if model_dir is not None:
        shutil.copytree(model_dir, dst / "model")
    return dst


class Visit:
    """A fresh browser profile (first visit) on a served site; records every request and page error."""

    def __init__(self, browser, origin: str, query: str = "", viewport=(1280, 900), **context_options):
        self.origin = origin
        self.context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, **context_options)
        self.requests: list[str] = []
        self.context.on("request", lambda r: self.requests.append(r.url))  # page and service worker
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        self.page.add_init_script("window.__csp = []; document.addEventListener('securitypolicyviolation',"
                                  " (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));")
        self.page.goto(f"{origin}/{query}")

    def js(self, expression, arg=None):
        return self.page.evaluate(expression, arg)

    def wait(self, expression: str, timeout: float = TIMEOUT_S):
        try:
            return wait_for(self.page, expression, timeout)
        except BenchError:
            raise AssertionError(f"timed out waiting for {expression}; status: "
                                 f"{self.js('window.renderOrReal && renderOrReal.message')}") from None

    def wait_started(self) -> str:
        return self.wait("window.renderOrReal && renderOrReal.status !== 'loading' && renderOrReal.status")

    def classify(self, paths) -> dict[str, dict]:
        before = len(self.js("renderOrReal.results()"))
        self.page.set_input_files("#files", [str(p) for p in paths])
        self.js("renderOrReal.idle()")
        self.wait(f"renderOrReal.results().length >= {before + len(paths)} && "
                  "renderOrReal.results().every((r) => r.status !== 'pending')")
        return {r["name"]: r for r in self.js("renderOrReal.results()")[before:]}

    def page_input(self, path: Path) -> np.ndarray:
        out = self.js("""async ([b64, name]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            return renderOrReal.modelInput(new File([bytes], name));
        }""", [base64.b64encode(path.read_bytes()).decode(), path.name])
        return np.asarray(out["data"], np.float32).reshape(out["shape"])

    def foreign_requests(self) -> list[str]:
        # blob: URLs of this origin are in-memory objects the page made (TF.js's WASM thread workers), not requests.
        return [u for u in self.requests if not u.startswith((self.origin + "/", f"blob:{self.origin}/"))]

    def close(self):
        self.context.close()


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield b
        b.close()


AWKWARD = ("adobe_rgb.jpg", "cmyk.jpg", "grey16.png", "progressive.jpg", "chroma444.jpg", "palette.png", "lossy.webp")


def adobe_rgb_icc() -> bytes:
    """A minimal ICC v2 display profile with Adobe RGB (1998) primaries (D50-adapted) and gamma 2.2:
    what a camera or an editor embeds in a non-sRGB picture."""
    def s15(x):
        return struct.pack(">i", round(x * 65536))

    def xyz(x, y, z):
        return b"XYZ " + b"\0" * 4 + s15(x) + s15(y) + s15(z)

    text = b"Adobe RGB (1998) test profile"
    desc = b"desc" + b"\0" * 4 + struct.pack(">I", len(text) + 1) + text + b"\0" + b"\0" * 12 + b"\0" * 67
    curve = b"curv" + b"\0" * 4 + struct.pack(">IH", 1, 0x0233) + b"\0\0"  # gamma 563/256 = 2.2
    tags = [(b"desc", desc), (b"cprt", b"text" + b"\0" * 4 + b"none\0"), (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
            (b"rXYZ", xyz(0.6097, 0.3111, 0.0195)), (b"gXYZ", xyz(0.2053, 0.6257, 0.0609)),
            (b"bXYZ", xyz(0.1492, 0.0632, 0.7446)), (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (struct.pack(">I", size) + b"\0" * 4 + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ " + b"\0" * 12 + b"acsp"
              + b"\0" * 24 + b"\0" * 4 + s15(0.9642) + s15(1.0) + s15(0.8249) + b"\0" * 48)
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


@pytest.fixture(scope="module")
def pictures(tmp_path_factory, tiny_data) -> dict[str, Path]:
    """Demo pictures (JPEG and PNG) plus the awkward cases, and three files no one can use."""
    out = tmp_path_factory.mktemp("pictures")
    demo = sorted(p for p in tiny_data.rglob("*") if p.is_file())
    jpgs = [p for p in demo if p.suffix == ".jpg"]
    pngs = [p for p in demo if p.suffix == ".png"]
    chosen = jpgs[:2] + jpgs[-1:] + pngs[:1] + pngs[-1:]
    files = {}
    for p in chosen:
        files[f"{p.parent.name}_{p.name}"] = shutil.copy2(p, out / f"{p.parent.name}_{p.name}")
    base = next(Image.open(p).convert("RGB") for p in jpgs if Image.open(p).width != Image.open(p).height)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": the page must apply it, as Pillow does
    base.save(out / "exif_rotated.jpg", quality=92, exif=exif)
    base.convert("L").save(out / "gray.png")
    rgba = base.copy()
    alpha = np.tile(np.linspace(0, 255, base.width).astype(np.uint8), (base.height, 1))
    alpha[:, : base.width // 6] = 0  # a fully transparent stripe: white for the model
    rgba.putalpha(Image.fromarray(alpha))
    rgba.save(out / "rgba.png")
    base.resize((1100, 830), Image.BICUBIC).save(out / "big.jpg", quality=90)  # max_side + box path
    base.resize((4000, 3000), Image.BICUBIC).save(out / "phone_12mp.jpg", quality=85)  # read in bands
    # Encodings real pictures come in (issue 10): an embedded non-sRGB profile (neither Pillow nor the
    # page converts colours: both must read the stored numbers), CMYK, 16-bit grey, progressive, 4:4:4
    # chroma, a palette, lossy WebP.
    base.save(out / "adobe_rgb.jpg", quality=92, icc_profile=adobe_rgb_icc())
    base.convert("CMYK").save(out / "cmyk.jpg", quality=92)
    grey16 = np.asarray(base.convert("L"), np.uint16) * 257 + np.random.default_rng(1).integers(0, 257, base.size[::-1])
    Image.fromarray(np.minimum(grey16, 65535).astype(np.uint16)).save(out / "grey16.png")
    base.save(out / "progressive.jpg", quality=88, progressive=True)
    base.save(out / "chroma444.jpg", quality=95, subsampling=0)
    base.convert("P", palette=Image.Palette.ADAPTIVE, colors=200).save(out / "palette.png")
    base.save(out / "lossy.webp", quality=85)
    (out / "notes.jpg").write_text("this is a text file with a picture's name\n")
    corrupt = bytearray(jpgs[0].read_bytes())
    corrupt[4:600] = np.random.default_rng(0).integers(0, 256, 596, dtype=np.uint8).tobytes()
    (out / "corrupt.jpg").write_bytes(bytes(corrupt))
    Image.new("1", (9000, 8000)).save(out / "huge.png")  # 72 Mpx in a small file: refused unread
    for name in ("exif_rotated.jpg", "gray.png", "rgba.png", "big.jpg", "phone_12mp.jpg", *AWKWARD, "notes.jpg",
                 "corrupt.jpg", "huge.png"):
        files[name] = out / name
    return files


def python_answers(run_dir: Path, files: dict[str, Path]):
    spec, model = load_run_model(run_dir)
    probs, errors = predict_files(model, spec, list(files.values()))
    return spec, dict(zip(files, probs)), dict(zip(files, errors))


def site_model_from_run(run_dir: Path, dst: Path) -> Path:
    copy_to_static_site(run_dir, dst, [SPEC_FILE, "metrics.json"])
    return dst


# ---------------------------------------------------------------- Node-only checks (no browser)


def _node(script: str, *args) -> str:
    proc = subprocess.run(["node", str(Path(__file__).with_name(script)), *map(str, args), "--site", str(SITE)],
                          capture_output=True, text=True, cwd=SITE, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@needs_node
@pytest.mark.parametrize("view,size,grid,max_side", [("crops", 32, 2, 512), ("crops", 64, 3, 100),
                                                     ("crops", 20, 1, 50), ("whole", 64, 3, 512),
                                                     ("picture", 32, 1, 384)])
def test_page_geometry_matches_python(tmp_path, view, size, grid, max_side):
    """preprocess.js (TF.js ops) makes the same model input as train/preprocess.py for many picture
    sizes, including upscaling, box pooling and odd sizes."""
    spec = Spec(class_names=("a", "b"), input_size=size, view=view, grid=grid, max_side=max_side)
    (tmp_path / "spec.json").write_text(json.dumps(spec.to_json()))
    rng = np.random.default_rng(size)
    # A small band budget: big pictures are pooled in many bands, as 12+ megapixel photos are.
    for h, w in [(30, 40), (64, 64), (65, 129), (300, 211), (1000, 37), (513, 512), (401, 600), (1203, 1601)]:
        smooth = np.kron(rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3)), np.ones((8, 8, 1)))[:h, :w]
        for name, rgb in (("noise", rng.integers(0, 256, (h, w, 3))), ("smooth", smooth)):
            rgb = rgb.astype(np.uint8)
            expected = model_input(rgb, spec)
            rgb.tofile(tmp_path / "in.u8")
            _node("tfjs_model_input.mjs", tmp_path / "spec.json", tmp_path / "in.u8", tmp_path / "out.f32",
                  "--shape", f"{h},{w}", "--band-pixels", "20000")
            got = np.fromfile(tmp_path / "out.f32", "<f4")
            assert got.size == expected.size, (h, w, expected.shape)
            diff = np.abs(got.reshape(expected.shape) - expected)
            # TF.js computes bilinear source coordinates in float64, TensorFlow in float32: a few 1e-5
            # of a pixel apart, which moves a value sitting on a half level to the next whole level
            # after rounding: one level, at few values (most often in upscaled flat areas, where the
            # bilinear weights are exact halves).
            assert diff.max() <= 1.0 and np.mean(diff > 0) < 1e-2, (name, h, w, diff.max(), np.mean(diff > 0))


@needs_node
@pytest.mark.parametrize("view", ["whole", "crops", "picture"])
def test_banded_reading_changes_no_number(tmp_path, view):
    """Big pictures are read and pooled in row bands (memory); the input is bit-identical to one pass."""
    spec = Spec(class_names=("a", "b"), input_size=48, view=view, grid=3, max_side=300)
    (tmp_path / "spec.json").write_text(json.dumps(spec.to_json()))
    np.random.default_rng(1).integers(0, 256, (1203, 1601, 3)).astype(np.uint8).tofile(tmp_path / "in.u8")
    out = []
    for band in ("7000", "100000000"):
        _node("tfjs_model_input.mjs", tmp_path / "spec.json", tmp_path / "in.u8", tmp_path / f"{band}.f32",
              "--shape", "1203,1601", "--band-pixels", band)
        out.append(np.fromfile(tmp_path / f"{band}.f32", "<f4"))
    size = 48 * 48 * 3 if view == "whole" else 300 * 225 * 3  # 1601x1203 -> 300x225
    assert out[0].size == size and np.array_equal(out[0], out[1])


@needs_node
def test_header_sizes_are_read_without_decoding(tmp_path):
    """The pixel-limit check reads the size from the header of every format Python accepts."""
    im = Image.new("RGB", (123, 45), (200, 100, 50))
    saves = {"a.png": {}, "a.jpg": {"quality": 80}, "p.jpg": {"progressive": True}, "a.gif": {},
             "a.bmp": {}, "lossy.webp": {}, "lossless.webp": {"lossless": True}}
    for name, kw in saves.items():
        im.save(tmp_path / name, **kw)
    exif = Image.Exif()
    exif[0x0112] = 6
    im.save(tmp_path / "exif.jpg", exif=exif)
    im.convert("RGBA").save(tmp_path / "alpha.webp", exif=exif)  # VP8X
    (tmp_path / "text.jpg").write_text("hello")
    script = ("import('./preprocess.js').then((m) => { const fs = require('fs'); const out = {};"
              " for (const f of process.argv.slice(1)) out[f.split('/').pop()] = m.sniffSize(new Uint8Array(fs.readFileSync(f)));"
              " console.log(JSON.stringify(out)); });")
    names = sorted(p.name for p in tmp_path.iterdir())
    proc = subprocess.run(["node", "-e", script, *[str(tmp_path / n) for n in names]], capture_output=True,
                          text=True, cwd=SITE, timeout=60)
    assert proc.returncode == 0, proc.stderr
    sizes = json.loads(proc.stdout)
    assert sizes.pop("text.jpg") is None
    assert {n: (s["width"], s["height"]) for n, s in sizes.items()} == {n: (123, 45) for n in sizes}


def test_runtime_comes_from_npm_pinned():
    pkg = json.loads((SITE / "package.json").read_text())
    lock = json.loads((SITE / "package-lock.json").read_text())
    assert pkg["scripts"]["build"]
    assert pkg["dependencies"] and all(v == "4.22.0" for v in pkg["dependencies"].values())
    assert "@tensorflow/tfjs-node" not in pkg["dependencies"]
    for name in pkg["dependencies"]:
        assert lock["packages"][f"node_modules/{name}"]["version"] == "4.22.0"
    # The page refers to nothing off-site: no absolute URLs in what it loads.
    for name in SITE_FILES:
        text = re.sub(r'xmlns="[^"]*"', "", (SITE / name).read_text())  # a namespace name, not a request
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I), name
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', (SITE / "index.html").read_text())
    assert csp and "default-src 'self'" in csp.group(1) and "'wasm-unsafe-eval'" in csp.group(1)
    assert "unsafe-inline" not in csp.group(1) and "'unsafe-eval'" not in csp.group(1)


# ---------------------------------------------------------------- the page


@needs_browser
@pytest.mark.parametrize("run", ["tiny-tracenet", "tiny-rendernet2017", "tiny-lite0"])
def test_page_matches_keras(browser, tmp_path, tiny_models, tiny_site_model, lite0_run, pictures, artifacts_dir, run):
    """Every usable picture gets model.keras's answer (top class, probabilities within 1e-3); the bad
    files get an error on their own card and the rest still work; nothing but the local origin is asked."""
    run_dir = lite0_run if run == "tiny-lite0" else tiny_models / "runs" / run
    # tiny-tracenet is the current run: its model/ is the one `python -m train` refreshed.
    model_dir = tiny_site_model if run == "tiny-tracenet" else site_model_from_run(run_dir, tmp_path / "model")
    server = Server(make_site(tmp_path / "site", model_dir))
    visit = Visit(browser, server.origin)
    try:
        assert visit.wait_started() == "ready", visit.js("renderOrReal.message")
        assert visit.js("renderOrReal.backend") == "wasm"  # the fastest here (measured at start)
        spec, expected, py_errors = python_answers(run_dir, pictures)
        assert visit.js("renderOrReal.spec")["class_names"] == list(spec.class_names)
        got = visit.classify(list(pictures.values()))
        assert set(got) == set(pictures)

        assert {n for n, e in py_errors.items() if e} == BAD_FILES
        assert {n for n, r in got.items() if r["status"] == "error"} == BAD_FILES
        assert "pixel limit" in got["huge.png"]["error"]
        for name in set(pictures) - BAD_FILES:
            r = got[name]
            assert r["status"] == "done", (name, r)
            p = np.asarray(r["probs"])
            assert r["top"] == spec.class_names[int(np.argmax(expected[name]))], (name, p, expected[name])
            np.testing.assert_allclose(p, expected[name], atol=1e-3, rtol=0, err_msg=name)

        # The model inputs themselves (decode: EXIF, grayscale, alpha on white; geometry) match Python's.
        for name in ("exif_rotated.jpg", "gray.png", "rgba.png", "big.jpg", "phone_12mp.jpg", *AWKWARD,
                     sorted(pictures)[0]):
            mine, theirs = visit.page_input(pictures[name]), model_input(load_rgb(pictures[name]), spec)
            assert mine.shape == theirs.shape, name
            # Chromium decodes these exactly as Pillow does; what remains is resize arithmetic, where a
            # value on a half level can round to the next level (see test_page_geometry_matches_python).
            # Alpha: 8-bit compositing may round apart by 1.
            diff = np.abs(mine - theirs)
            assert diff.max() <= 1.0 and np.mean(diff > 0) < (0.05 if name == "rgba.png" else 1e-2), name

        # The header is read from the run's files.
        metrics = json.loads((model_dir / "metrics.json").read_text())
        header = visit.page.inner_text("#model-info")
        assert metrics["run_id"] in header and " · ".join(spec.class_names) in header
        shown = f"≤ {spec.max_side} px" if spec.view == "picture" else f"{spec.input_size}×{spec.input_size}"
        assert shown in header and "WASM" in header
        served = metrics["model"]["bytes"][metrics["model"]["served_tfjs"]]
        assert size_text(served) in header  # the one figure for the model's size (the app's, the commands')
        assert f"{100 * metrics['test']['accuracy']:.1f}%" in header
        assert visit.page.locator(".card.error").count() == len(BAD_FILES)
        assert visit.page.locator(".card.done .bars li").count() == (len(pictures) - len(BAD_FILES)) * len(spec.class_names)

        assert visit.foreign_requests() == []
        assert visit.js("window.__csp") == [] and visit.errors == []
        if run == "tiny-lite0":
            visit.page.screenshot(path=str(artifacts_dir / "static_site.png"), full_page=True)
    finally:
        visit.close()
        server.stop()


def lazy_fetched(visit, runtime) -> set[str]:
    """The backends whose scripts (vendor/runtime.json "lazy") the visit fetched."""
    return {name for name, files in runtime["lazy"].items()
            if any(u.split("?")[0].endswith("/vendor/" + f) for f in files for u in visit.requests)}


@needs_browser
def test_backend_is_measured_once_then_remembered(browser, tmp_path, tiny_site_model, pictures):
    """A first visit measures the backends this Chromium offers: WASM passes its self-check and is timed;
    WebGPU has no adapter here without a flag, and WebGL runs on SwiftShader, a software GPU, which is
    not measured while a backend passes (CPU neither). The reload starts the remembered choice directly.
    Only tried backends' scripts are fetched; asked for one (?backend=cpu), the page fetches it and gives
    the same answers."""
    runtime = json.loads((SITE / "vendor" / "runtime.json").read_text())
    fallbacks = [f for files in runtime["lazy"].values() for f in files]
    assert set(runtime["lazy"]) == {"webgpu", "webgl", "cpu"} and not set(fallbacks) & set(runtime["page"])
    server = Server(make_site(tmp_path / "site", tiny_site_model))
    picks = [pictures[n] for n in sorted(set(pictures) - BAD_FILES)[:3]]
    answers = {}
    try:
        visit = Visit(browser, server.origin, service_workers="allow")
        try:
            assert visit.wait_started() == "ready", visit.js("renderOrReal.message")
            choice = visit.js("renderOrReal.backendChoice")
            tried = {r["backend"]: r for r in choice["tried"]}
            assert choice["how"] == "measured" and list(tried) == ["wasm", "webgpu", "webgl"], choice
            assert tried["webgpu"]["error"] == "not available on this device", choice
            assert tried["webgl"]["error"] == "a software GPU here: not measured", choice
            assert tried["wasm"]["check"]["passed"] and tried["wasm"]["ms"] > 0, choice
            fastest = "wasm"
            assert visit.js("renderOrReal.backend") == choice["backend"] == fastest
            assert lazy_fetched(visit, runtime) == set()
            assert visit.page.is_hidden("#self-check")
            answers["measured"] = visit.classify(picks)
            visit.page.reload()
            assert visit.wait_started() == "ready"
            again = visit.js("renderOrReal.backendChoice")
            assert again["how"] == "remembered" and [r["backend"] for r in again["tried"]] == [fastest], again
            assert again["tried"][0]["check"]["passed"] and visit.errors == [] and visit.js("window.__csp") == []
        finally:
            visit.close()
        visit = Visit(browser, server.origin, "?backend=cpu")
        try:
            assert visit.wait_started() == "ready", visit.js("renderOrReal.message")
            assert visit.js("renderOrReal.backend") == "cpu" and visit.js("renderOrReal.backendChoice")["how"] == "asked"
            assert lazy_fetched(visit, runtime) == {"cpu"}
            answers["cpu"] = visit.classify(picks)
        finally:
            visit.close()
    finally:
        server.stop()
    for name, r in answers["measured"].items():
        np.testing.assert_allclose(r["probs"], answers["cpu"][name]["probs"], atol=1e-4, err_msg=name)


@needs_browser
def test_self_check_drops_a_backend_whose_answers_differ(browser, tmp_path, tiny_site_model, pictures):
    """probes.json's expected probabilities tampered (moved by 0.5): WASM fails its self-check and the
    page goes on to the next backend (WebGPU absent here; WebGL, on a software GPU, tried now that none
    passed), down to CPU; none passes, so it runs on the fastest and says so in one line. The choice is
    not remembered: the next visit checks again."""
    model = tmp_path / "model"
    shutil.copytree(tiny_site_model, model)
    probes = json.loads((model / "probes.json").read_text())
    for probe in probes["probes"]:
        probe["probabilities"] = [(p + 0.5) % 1 for p in probe["probabilities"]]
    (model / "probes.json").write_text(json.dumps(probes))
    server = Server(make_site(tmp_path / "site", model))
    visit = Visit(browser, server.origin)
    try:
        assert visit.wait_started() == "ready", visit.js("renderOrReal.message")
        choice = visit.js("renderOrReal.backendChoice")
        checked = [r for r in choice["tried"] if r["check"]]
        assert [r["backend"] for r in checked] == ["wasm", "webgl", "cpu"], choice
        assert all(not r["check"]["passed"] and abs(r["check"]["maxDiff"] - 0.5) < 0.01 for r in checked), choice
        assert choice["backend"] == min(checked, key=lambda r: r["ms"])["backend"]
        line = visit.page.inner_text("#self-check")
        assert visit.page.is_visible("#self-check") and "\n" not in line.strip(), line
        assert line.startswith("Self-check: no backend") and "WASM was 0.5" in line and "CPU was 0.5" in line, line
        assert visit.classify(picks_of(pictures, 1))  # it still answers
        visit.page.reload()
        assert visit.wait_started() == "ready" and visit.js("renderOrReal.backendChoice")["how"] == "measured"
        assert visit.foreign_requests() == []
    finally:
        visit.close()
        server.stop()


def picks_of(pictures, n):
    return [pictures[name] for name in sorted(set(pictures) - BAD_FILES)[:n]]


@needs_browser
def test_service_worker_isolates_the_page_for_wasm_threads(browser, tmp_path, tiny_site_model, pictures):
    """A static host sends no COOP/COEP; the page's service worker adds them to every response, so from the
    visit after the first the page is cross-origin isolated and WASM runs its threaded build (?threads=2)
    with the same answers as the first, single-threaded visit. Nothing off the origin."""
    server = Server(make_site(tmp_path / "site", tiny_site_model))
    picks = picks_of(pictures, 3)
    visit = Visit(browser, server.origin, "?backend=wasm&threads=2", service_workers="allow")
    try:
        assert visit.wait_started() == "ready", visit.js("renderOrReal.message")
        assert visit.js("crossOriginIsolated") is False and visit.js("renderOrReal.wasmThreads") == 1
        single = visit.classify(picks)
        visit.wait("navigator.serviceWorker.controller !== null")
        visit.page.reload()
        assert visit.wait_started() == "ready", visit.js("renderOrReal.message")
        # Isolated: the threaded build runs. (TF.js 4.22 reports 1 thread here even when asked for 2: open.)
        assert visit.js("crossOriginIsolated") is True and visit.js("renderOrReal.wasmThreads") >= 1
        threaded = visit.classify(picks)
        for name, r in threaded.items():
            np.testing.assert_allclose(r["probs"], single[name]["probs"], atol=1e-4, err_msg=name)
        assert any(u.endswith("/vendor/tfjs-backend-wasm-threaded-simd.wasm") for u in visit.requests)
        assert visit.foreign_requests() == [] and visit.errors == [] and visit.js("window.__csp") == []
    finally:
        visit.close()
        server.stop()


@needs_browser
def test_three_classes_three_bars(browser, tmp_path, three_class_run, tiny_data):
    model_dir = site_model_from_run(three_class_run, tmp_path / "model")
    server = Server(make_site(tmp_path / "site", model_dir))
    visit = Visit(browser, server.origin)
    try:
        assert visit.wait_started() == "ready", visit.js("renderOrReal.message")
        pictures = sorted((tiny_data / "render").glob("*"))[:2] + sorted((tiny_data / "photo").glob("*"))[:1]
        got = visit.classify(pictures)
        spec, expected, _ = python_answers(three_class_run, {p.name: p for p in pictures})
        assert list(spec.class_names) == ["photo", "render", "sketch"]
        for name, r in got.items():
            assert r["status"] == "done" and len(r["probs"]) == 3
            np.testing.assert_allclose(r["probs"], expected[name], atol=1e-3)
        assert visit.page.locator(".card.done .bars li").count() == 3 * len(pictures)
        assert "photo · render · sketch" in visit.page.inner_text("#model-info")
    finally:
        visit.close()
        server.stop()


@needs_browser
def test_published_folder_works_from_a_subpath(browser, tmp_path, lite0_run, pictures, capsys):
    """python -m train.publish: plain files, relative URLs; served under /project/ as GitHub Pages does."""
    from train.publish import main as publish_main

    host = tmp_path / "host"
    out = host / "project"
    models = lite0_run.parents[1]
    assert publish_main([str(out), "--models", str(models)]) == 0
    said = capsys.readouterr().out
    served = json.loads((lite0_run / "metrics.json").read_text())["model"]["bytes"]["tfjs-mixed"]
    assert "GitHub Pages" in said and f"its model {size_text(served)}," in said, said
    files = [p for p in out.rglob("*")]
    assert not any(p.is_symlink() for p in files)
    assert {p.name for p in (out / "model").iterdir()} >= {"model.json", "preprocessing.json", "metrics.json"}
    # Served to every visitor: no server path (tests/test_publish.py checks the rest of what is left out).
    full = json.loads((lite0_run / "metrics.json").read_text())
    published = "\n".join(p.read_bytes().decode("utf-8", "replace") for p in files if p.is_file())
    for secret in (full["data"]["root"], full["config"]["data"], full["config"]["models"], str(models.resolve())):
        assert secret not in published, secret
    assert publish_main([str(out), "--models", str(models)]) == 0  # again over an earlier publish
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert publish_main([str(tmp_path / "mine"), "--models", str(models)]) == 2
    assert "not empty" in capsys.readouterr().err and (tmp_path / "mine" / "notes.txt").is_file()
    server = Server(host)
    visit = Visit(browser, server.origin, query="project/")
    try:
        assert visit.wait_started() == "ready", visit.js("renderOrReal.message")
        header = visit.page.inner_text("#model-info")  # read from the public metrics.json
        assert full["run_id"] in header and f"{100 * full['test']['accuracy']:.1f}%" in header
        chosen = [pictures[n] for n in ("big.jpg", "gray.png", "notes.jpg")]
        got = visit.classify(chosen)
        assert got["big.jpg"]["status"] == got["gray.png"]["status"] == "done"
        assert got["notes.jpg"]["status"] == "error"
        assert visit.foreign_requests() == [] and all("/project/" in u for u in visit.requests)
        assert visit.errors == []
    finally:
        visit.close()
        server.stop()


@needs_browser
def test_phone_layout_keyboard_and_announcements(browser, tmp_path, tiny_site_model, pictures, artifacts_dir):
    server = Server(make_site(tmp_path / "site", tiny_site_model))
    visit = Visit(browser, server.origin, viewport=(390, 844), is_mobile=True, has_touch=True, device_scale_factor=2)
    try:
        assert visit.wait_started() == "ready"
        assert visit.page.is_visible("#camera")  # phones get a camera button (capture="environment")
        assert visit.page.get_attribute("#capture", "capture") == "environment"
        focused = []
        for _ in range(4):  # the skip link, then the picker: reachable without a mouse
            visit.page.keyboard.press("Tab")
            focused.append(visit.js("document.activeElement.id || document.activeElement.className"))
        assert "pick" in focused, focused
        visit.classify([pictures["gray.png"], pictures["notes.jpg"]])
        announced = visit.page.inner_text("#announcer")
        assert "gray.png:" in announced and "notes.jpg: error" in announced
        assert visit.js("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scroll
        # The results table fits the phone: every probability on screen, nothing to scroll sideways to.
        probs = visit.page.locator("#table-body tr.done td.num").evaluate_all(
            "(tds) => tds.map((td) => { const r = td.getBoundingClientRect(); return [r.left, r.right, td.textContent]; })")
        assert len(probs) == len(visit.js("renderOrReal.spec")["class_names"]), probs
        assert all(0 <= left < right <= 390 and text.endswith("%") for left, right, text in probs), probs
        assert visit.js("(() => { const w = document.querySelector('.table-wrap'); return w.scrollWidth <= w.clientWidth; })()")
        visit.js("document.activeElement.blur()")
        # The phone's screen as it is (a full-page capture drops the touch emulation in Chromium).
        visit.page.screenshot(path=str(artifacts_dir / "static_site_phone.png"))
    finally:
        visit.close()
        server.stop()


@needs_browser
def test_drop_and_paste_add_pictures(browser, tmp_path, tiny_site_model, pictures):
    server = Server(make_site(tmp_path / "site", tiny_site_model))
    visit = Visit(browser, server.origin)
    try:
        assert visit.wait_started() == "ready"
        b64 = base64.b64encode(pictures["gray.png"].read_bytes()).decode()
        visit.js("""(b64) => {
            const file = () => new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], "gray.png",
                                        { type: "image/png" });
            const dt = new DataTransfer();
            dt.items.add(file());
            document.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
            const clip = new DataTransfer();
            clip.items.add(file());
            document.dispatchEvent(new ClipboardEvent("paste", { clipboardData: clip, bubbles: true, cancelable: true }));
        }""", b64)
        visit.js("renderOrReal.idle()")
        results = visit.wait("renderOrReal.results().length === 2 && renderOrReal.results().every((r) => r.status === 'done') && renderOrReal.results()")
        assert results[0]["probs"] == results[1]["probs"]
    finally:
        visit.close()
        server.stop()


@needs_browser
def test_a_folder_batch_gets_a_sortable_table_a_csv_like_train_predict_and_can_be_cancelled(
        browser, tmp_path, tiny_models, tiny_site_model, tiny_data):
    """A folder (sub-folders, a note and a hidden file among the pictures) through the folder picker: every
    picture gets a row, the rest are skipped; sorting by a probability orders the rows, and rows that finish
    later take their place in that order; the CSV has train.predict's columns, verdicts and problems (a
    picture too small to judge says why in both); "Cancel the rest" stops a long batch, leaving no tensors
    and the answers' cards before the cancelled ones; "Clear results" leaves no sort arrow behind."""
    import csv as csv_lib

    from train.predict import predict_files, verdict_of

    album = tmp_path / "album"
    demo = sorted(p for p in tiny_data.rglob("*") if p.is_file())[::10][:8]  # both classes
    for i, p in enumerate(demo):
        sub = album / ("rooms" if i % 2 else "rooms/upstairs")
        sub.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, sub / f"{i}-{p.name}")
    Image.new("RGB", (20, 16), (90, 120, 150)).save(album / "rooms" / "9-tiny.png")  # under min_side
    (album / "notes.txt").write_text("not a picture")
    (album / ".DS_Store").write_bytes(b"\0\1")
    server = Server(make_site(tmp_path / "site", tiny_site_model))
    visit = Visit(browser, server.origin, accept_downloads=True)
    try:
        assert visit.wait_started() == "ready"
        before = visit.js("renderOrReal.memory()")
        visit.page.set_input_files("#folder", str(album))
        n = len(demo) + 1
        results = visit.wait(f"renderOrReal.results().length === {n} && "
                             "renderOrReal.results().every((r) => r.status === 'done') && renderOrReal.results()")
        paths = sorted(r["path"] for r in results)
        assert paths == sorted(str(p.relative_to(tmp_path)) for p in album.rglob("*-*")), paths
        assert visit.page.locator("#table-body tr").count() == n
        assert "2 other files skipped" in visit.page.inner_text("#summary")

        def shown_p_render():  # the column in the table's order; "–" (no answer) as None
            texts = visit.page.locator("#table-body tr td.num:nth-of-type(3)").all_inner_texts()
            return [None if t == "–" else float(t.rstrip("%")) for t in texts]

        def in_order(values):  # highest first, no answer last
            known = [v for v in values if v is not None]
            return values == known + [None] * (len(values) - len(known)) and known == sorted(known, reverse=True)

        visit.page.click("#table-head th[data-key='p_render'] button")
        shown = shown_p_render()
        assert in_order(shown) and len(shown) == n and shown[-1] is None, shown
        assert visit.page.get_attribute("#table-head th[data-key='p_render']", "aria-sort") == "descending"
        # Renders given while the table is sorted: each row goes where the sort puts it, not at the end.
        later = [p for p in sorted((tiny_data / "render").iterdir()) if p not in demo][:3]
        added = visit.classify(later)
        assert max(r["probs"][1] for r in added.values()) * 100 > min(v for v in shown if v is not None)
        assert in_order(shown_p_render()), shown_p_render()

        with visit.page.expect_download() as got:
            visit.page.click("#download")
        table = list(csv_lib.DictReader(open(got.value.path(), newline="")))
        spec = json.loads((tiny_site_model / "preprocessing.json").read_text())
        assert list(table[0]) == ["path", "verdict", "predicted_class"] + [f"p_{c}" for c in spec["class_names"]] + ["error"]
        model_spec, model = load_run_model(tiny_models / "runs" / "tiny-tracenet")
        where = {**{str(p.relative_to(tmp_path)): p for p in album.rglob("*-*")}, **{p.name: p for p in later}}
        probs, errors = predict_files(model, model_spec, [where[row["path"]] for row in table])
        assert len(table) == n + len(later) and any(row["verdict"] == "too small to judge" for row in table)
        for row, p, e in zip(table, probs, errors):
            assert row["verdict"] == verdict_of(p, e, model_spec), row
            if e:  # the same reason (train.predict names the file before it)
                assert row["error"] and e.endswith(row["error"]) and not row[f"p_{spec['class_names'][1]}"], (row, e)
            else:
                assert not row["error"] and abs(float(row[f"p_{spec['class_names'][1]}"]) - p[1]) < 1e-3, (row, p)

        # A long batch (40 pictures dropped), cancelled in the same moment: the picture already started
        # finishes, every other one is marked cancelled and never runs.
        visit.js("""([b64, n]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const dt = new DataTransfer();
            for (let i = 0; i < n; i++) dt.items.add(new File([bytes], `copy-${i}.png`, { type: "image/png" }));
            document.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
            document.getElementById("cancel").click();
        }""", [base64.b64encode(next(p for p in demo if p.suffix == ".png").read_bytes()).decode(), 40])
        visit.js("renderOrReal.idle()")
        states = [r["status"] for r in visit.js("renderOrReal.results()")[n + len(later):]]
        assert len(states) == 40 and states.count("cancelled") >= 39 and set(states) <= {"done", "cancelled"}, states
        assert "cancelled" in visit.page.inner_text("#summary") and visit.page.is_hidden("#cancel")
        cards = visit.page.locator("#cards > li").evaluate_all("(lis) => lis.map((li) => li.classList.contains('cancelled'))")
        assert len(cards) == n + len(later) + 40 and cards == sorted(cards), cards  # the answers first
        assert visit.js("renderOrReal.memory()")["numTensors"] == before["numTensors"]

        visit.page.click("#clear")
        assert visit.page.locator("#table-head th[aria-sort='descending'], #table-head th[aria-sort='ascending']").count() == 0
        visit.classify(later)
        assert visit.page.locator("#table-body tr").evaluate_all("(trs) => trs.map((tr) => tr.dataset.index)") == ["0", "1", "2"]
        assert visit.foreign_requests() == [] and visit.errors == []
    finally:
        visit.close()
        server.stop()


@needs_browser
def test_the_page_learns_from_corrections_on_the_device_only(browser, tmp_path, tiny_site_model, tiny_data):
    """Marking answers wrong adapts a small head on the model's embedding (learn.js): the corrected pictures'
    answers move towards what the visitor said, the cards say "adapted" beside the model's own answer, the
    corrections survive a reload (IndexedDB) and "Forget" clears them; no tensor is left behind and no
    request leaves the origin."""
    demo = sorted(p for p in tiny_data.rglob("*") if p.is_file())
    photos = [p for p in demo if p.parent.name == "photo"][:3]
    renders = [p for p in demo if p.parent.name == "render"][:3]
    server = Server(make_site(tmp_path / "site", tiny_site_model))
    visit = Visit(browser, server.origin)
    try:
        assert visit.wait_started() == "ready"
        assert visit.js("renderOrReal.corrections()") == 0 and visit.page.is_hidden("#learning")
        got = visit.classify(photos + renders)
        assert all(r["status"] == "done" and "adaptedProbs" not in r for r in got.values())
        before = visit.js("renderOrReal.memory()")["numTensors"]
        # Learning as fitted: the harm check (its own test) would hold these back on the tiny model.
        visit.js("renderOrReal.harmCheck(false)")
        # Two photos corrected to "render", one render confirmed.
        for i in (0, 1):
            visit.js(f"renderOrReal.correct({i}, 'render')")
        visit.js("renderOrReal.correct(3, 'render')")
        results = visit.js("renderOrReal.results()")
        assert visit.js("renderOrReal.corrections()") == 3
        render = 1  # class index of "render"
        for r in results[:2]:
            assert r["correction"] == "render" and r["adaptedProbs"][render] > r["probs"][render] + 0.05, r
        assert "Adapted with 3 corrections" in visit.page.inner_text("#learning")
        assert visit.page.locator(".card .badge", has_text="adapted").count() == len(results)
        # The table shows the adapted verdicts too, marked so, with the model's own beside them.
        marks = visit.page.locator("#table-body td .badge").all_inner_texts()
        assert len(marks) == len(results) and all(m.startswith("adapted (the model alone: ") for m in marks), marks
        assert visit.js("renderOrReal.memory()")["numTensors"] == before  # fitting disposed everything
        adapted_first = results[0]["adaptedProbs"]

        visit.page.reload()
        assert visit.wait_started() == "ready" and visit.js("renderOrReal.corrections()") == 3
        assert not visit.page.is_hidden("#learning")
        visit.js("renderOrReal.harmCheck(false)")
        again = visit.classify(photos[:1])[photos[0].name]
        np.testing.assert_allclose(again["adaptedProbs"], adapted_first, atol=1e-4)  # the same head, refitted

        visit.js("renderOrReal.forget()")
        visit.wait("renderOrReal.corrections() === 0")
        assert visit.page.is_hidden("#learning")
        assert all("adaptedProbs" not in r for r in visit.js("renderOrReal.results()"))
        assert visit.foreign_requests() == [] and visit.errors == [] and visit.js("window.__csp") == []
    finally:
        visit.close()
        server.stop()


@needs_browser
def test_a_correction_is_undone_on_its_card_or_in_the_list(browser, tmp_path, tiny_site_model, tiny_data):
    """Each correction can be undone: the card's Undo forgets that one (the others stay fitted, and kept
    on reload), the list of corrections removes one with its button; none left: the model's own answers."""
    demo = sorted(p for p in tiny_data.rglob("*") if p.is_file())
    photos = [p for p in demo if p.parent.name == "photo"][:3]
    server = Server(make_site(tmp_path / "site", tiny_site_model))
    visit = Visit(browser, server.origin)
    try:
        assert visit.wait_started() == "ready"
        visit.classify(photos)
        visit.js("renderOrReal.harmCheck(false)")  # undo is what is tested here, not the check
        for i in range(3):
            visit.js(f"renderOrReal.correct({i}, 'render')")
        assert visit.page.locator("#learning-list li").count() == 3
        card = visit.page.locator(".card", has_text=photos[1].name)
        card.locator("button.undo").click()
        visit.wait("document.querySelectorAll('#learning-list li').length === 2")  # the list redrawn last
        results = visit.js("renderOrReal.results()")
        assert "correction" not in results[1] and results[0]["correction"] == "render"
        assert [c["name"] for c in visit.js("renderOrReal.correctionList()")] == [photos[0].name, photos[2].name]
        assert card.locator("button.undo").count() == 0
        assert visit.page.locator("#learning-list li").all_text_contents()[0].startswith(f"{photos[0].name}: render")

        visit.page.reload()
        assert visit.wait_started() == "ready" and visit.js("renderOrReal.corrections()") == 2
        visit.page.locator("#learning-details summary").click()  # the list opens
        visit.page.locator("#learning-list button.remove-correction").first.click()
        visit.wait("document.querySelectorAll('#learning-list li').length === 1")
        assert [c["name"] for c in visit.js("renderOrReal.correctionList()")] == [photos[2].name]
        visit.page.locator("#learning-list button.remove-correction").first.click()
        visit.wait("document.getElementById('learning').hidden")
        assert visit.js("renderOrReal.corrections()") == 0
        again = visit.classify(photos[:1])[photos[0].name]
        assert "adaptedProbs" not in again
        assert visit.foreign_requests() == [] and visit.errors == []
    finally:
        visit.close()
        server.stop()


def reference_pictures(run_dir: Path) -> tuple[list[Path], list[str]]:
    """The pictures of a run's reference set (train/export.py reference_set: its validation pictures in
    predictions.csv's order) and their classes."""
    import csv

    with open(run_dir / "predictions.csv", newline="") as f:
        val = [r for r in csv.DictReader(f) if r["split"] == "val"]
    return [Path(r["path"]) for r in val], [r["true_class"] for r in val]


def test_the_harm_check_weakens_or_drops_an_adaptation_that_costs_the_reference_set(
        browser, tmp_path, tiny_run, tiny_site_model):
    """The bundle carries the run's validation pictures as features and labels (reference.json, no pictures).
    Corrections that contradict them (the reference pictures themselves marked as the other class) cost
    their accuracy: the page fits again with more pull to zero, or drops the adaptation, and says so in
    one line; with the check off the same corrections are used as fitted. With the reference's labels
    tampered to agree with the visitor, the same corrections pass the check untouched."""
    reference = json.loads((tiny_site_model / "reference.json").read_text())
    assert set(reference) == {"about", "n", "dim", "labels", "probabilities", "features"}  # no pictures
    paths, truth = reference_pictures(tiny_run)
    assert reference["n"] == min(len(paths), 200) and len(reference["labels"]) == reference["n"]
    wrong = {"photo": "render", "render": "photo"}
    picks = list(range(min(8, len(paths))))
    tampered = tmp_path / "tampered"
    shutil.copytree(tiny_site_model, tampered)
    names = json.loads((tiny_site_model / "preprocessing.json").read_text())["class_names"]
    told = [names.index(wrong[truth[i]]) if i in picks else label for i, label in enumerate(reference["labels"])]
    (tampered / "reference.json").write_text(json.dumps({**reference, "labels": told}))

    def visit_and_correct(model_dir, name):
        server = Server(make_site(tmp_path / name, model_dir))
        visit = Visit(browser, server.origin)
        assert visit.wait_started() == "ready"
        visit.classify([paths[i] for i in picks])
        for i in picks:
            visit.js(f"renderOrReal.correct({i}, {json.dumps(wrong[truth[i]])})")
        return server, visit

    server, visit = visit_and_correct(tiny_site_model, "site")
    try:
        check = visit.js("renderOrReal.harm()")
        assert check["n"] == reference["n"] and (check["weakened"] or check["dropped"]), check
        assert check["dropped"] or check["before"] - check["after"] <= 0.01, check
        line = visit.page.inner_text("#learning-check")
        assert line.startswith("Not used" if check["dropped"] else "Weakened"), line
        checked = [r.get("adaptedProbs") for r in visit.js("renderOrReal.results()")]
        visit.js("renderOrReal.harmCheck(false)")
        assert visit.js("renderOrReal.harm()") is None and visit.page.is_hidden("#learning-check")
        unchecked = [r["adaptedProbs"] for r in visit.js("renderOrReal.results()")]
        assert checked != unchecked  # the check changed what the page answers
        assert visit.foreign_requests() == [] and visit.errors == []
    finally:
        visit.close()
        server.stop()

    server, visit = visit_and_correct(tampered, "site-tampered")
    try:
        check = visit.js("renderOrReal.harm()")
        assert not check["weakened"] and not check["dropped"], check
        assert visit.page.is_hidden("#learning-check")
    finally:
        visit.close()
        server.stop()


def test_the_audit_of_a_labelled_folder_is_scored_on_the_device(browser, tmp_path, tiny_site_model, tiny_data):
    """A folder laid out like data/ (two render pictures filed under photo/ as mistakes, a folder "cats" that
    is no class, a picture outside any class folder): the page scores the class folders' pictures with
    the model's own answers: confusion matrix and scores as train/evaluate.py computes them from it, the
    unsure share, the mistakes as pictures (a click shows one), the unknown folders reported and not
    scored, the report downloadable as CSV and JSON; no request leaves the origin."""
    from train.evaluate import scores_from_confusion

    demo = sorted(p for p in tiny_data.rglob("*") if p.is_file())
    photos = [p for p in demo if p.parent.name == "photo"][:4]
    renders = [p for p in demo if p.parent.name == "render"][:6]
    folder = tmp_path / "labelled"
    for sub, pics in (("photo", photos + renders[4:]), ("render", renders[:4]), ("cats", photos[:2])):
        (folder / sub).mkdir(parents=True)
        for q in pics:
            shutil.copy(q, folder / sub / q.name)
    shutil.copy(renders[5], folder / "loose.png")
    server = Server(make_site(tmp_path / "site", tiny_site_model))
    visit = Visit(browser, server.origin)
    try:
        assert visit.wait_started() == "ready"
        visit.page.set_input_files("#audit-input", str(folder))
        visit.wait("renderOrReal.audit() !== null")
        report = visit.js("renderOrReal.audit()")
        names = report["classes"]
        assert report["unknown_folders"] == {"cats": 2, "(pictures outside a class folder)": 1}
        results = visit.js("renderOrReal.results()")
        assert len(results) == 10 and all("cats/" not in r["path"] for r in results)  # unknown: not classified
        m = np.zeros((2, 2), int)
        for r in results:
            m[names.index(r["path"].split("/")[1]), names.index(r["top"])] += 1
        assert report["confusion_matrix"] == m.tolist()
        python = scores_from_confusion(m, names)
        for key in ("n", "accuracy", "balanced_accuracy", "macro_f1"):
            assert report[key] == pytest.approx(python[key]), key
        assert report["unsure_share"] == pytest.approx(np.mean([r["verdict"] != r["top"] for r in results]))
        wrong = [r["path"] for r in results if r["top"] != r["path"].split("/")[1]]
        assert sorted(x["path"] for x in report["mistakes"]) == sorted(wrong) and wrong  # the misfiled renders
        assert visit.page.locator("#audit-mistakes button").count() == len(wrong)
        assert "cats (2 pictures)" in visit.page.inner_text("#audit-unknown")
        visit.page.locator("#audit-mistakes button").first.click()
        visit.wait("!document.getElementById('audit-view').hidden")
        assert visit.page.locator("#audit-view canvas").evaluate("(c) => c.width") > 1
        with visit.page.expect_download() as d:
            visit.page.click("#audit-json")
        assert json.loads(Path(d.value.path()).read_text())["confusion_matrix"] == m.tolist()
        with visit.page.expect_download() as d:
            visit.page.click("#audit-csv")
        csv_text = Path(d.value.path()).read_text()
        assert csv_text.startswith("true_class,precision,recall,f1,support,") and "balanced_accuracy," in csv_text
        assert visit.foreign_requests() == [] and visit.errors == [] and visit.js("window.__csp") == []
    finally:
        visit.close()
        server.stop()


@pytest.mark.parametrize("run", ["tiny-tracenet", "tiny-lite0"])
def test_where_it_looked_shows_each_regions_vote(browser, tmp_path, tiny_models, lite0_run, tiny_data, run):
    """A card's "Where it looked" draws the vote map over what the model saw: a crops model's own crop
    votes (their mean is the answer), or the model on 3 x 3 tiles; the same numbers as Keras's regions."""
    from train.model import exported_model

    run_dir = lite0_run if run == "tiny-lite0" else tiny_models / "runs" / run
    server = Server(make_site(tmp_path / "site", site_model_from_run(run_dir, tmp_path / "model")))
    visit = Visit(browser, server.origin)
    # Wide pictures: the map must not be cut to the card's square.
    pictures = [p for p in sorted(tiny_data.rglob("*")) if p.is_file() and Image.open(p).width > Image.open(p).height][:2]
    try:
        assert visit.wait_started() == "ready"
        got = visit.classify(pictures)
        visit.page.locator(".card button", has_text="Where it looked").first.click()
        visit.wait("document.querySelector('.card canvas.votes') !== null")
        assert "Each region" in visit.page.locator(".card .eye figcaption").first.inner_text()
        # Shown whole in its square box, wide or tall: at the scale its object-fit gives it, the map fits.
        shown = visit.js("""() => { const c = document.querySelector('.card canvas.votes');
            const box = c.getBoundingClientRect(); const fit = getComputedStyle(c).objectFit;
            const scale = (fit === 'cover' ? Math.max : Math.min)(box.width / c.width, box.height / c.height);
            return { w: c.width, h: c.height, fits: c.width * scale <= box.width + 0.5 && c.height * scale <= box.height + 0.5 }; }""")
        assert shown["w"] != shown["h"] and shown["fits"], shown
        spec, model = load_run_model(run_dir)
        regions_of = exported_model(model, spec)
        for i, p in enumerate(pictures):
            page_map = visit.js(f"renderOrReal.regions({i})")
            keras_map = regions_of(model_input(load_rgb(p), spec))
            expected = keras_map["regions"].numpy()[0]
            assert len(page_map["regions"]) == (4 if run == "tiny-tracenet" else 9)
            np.testing.assert_allclose(page_map["regions"], expected, atol=2e-2)  # lite0 is served with mixed weights
            np.testing.assert_allclose(page_map["boxes"], keras_map["region_boxes"].numpy()[0], atol=0)
            if run == "tiny-tracenet":  # the crop votes are what the answer averages
                np.testing.assert_allclose(np.mean(page_map["regions"], 0), got[p.name]["probs"], atol=1e-4)
        visit.page.locator(".card button", has_text="Where it looked").first.click()
        assert visit.page.locator(".card canvas.votes").count() == 0
        assert visit.foreign_requests() == [] and visit.errors == []
    finally:
        visit.close()
        server.stop()


@needs_browser
def test_memory_does_not_grow(browser, tmp_path, tiny_site_model, tiny_data):
    """Tensors are disposed: classifying 30 pictures leaves TF.js's tensor count where it was."""
    server = Server(make_site(tmp_path / "site", tiny_site_model))
    visit = Visit(browser, server.origin)
    try:
        assert visit.wait_started() == "ready"
        before = visit.js("renderOrReal.memory()")
        demo = sorted(p for p in tiny_data.rglob("*") if p.is_file())[::2][:30]
        visit.classify(demo[:15])
        middle = visit.js("renderOrReal.memory()")
        visit.classify(demo[15:])
        after = visit.js("renderOrReal.memory()")
        results = visit.js("renderOrReal.results()")  # (names repeat across the class folders)
        assert len(results) == 30 and all(r["status"] == "done" for r in results)
        assert before["numTensors"] == middle["numTensors"] == after["numTensors"], (before, after)
        assert before["numBytes"] == after["numBytes"]
    finally:
        visit.close()
        server.stop()


@needs_browser
def test_offline_after_first_visit_and_new_model_picked_up(browser, tmp_path, tiny_models, tiny_site_model, pictures):
    """The service worker serves page, runtime and model with the server gone; while the server is
    up, a newly deployed model replaces the cached one on the next load."""
    site = make_site(tmp_path / "site", tiny_site_model)
    server = Server(site)
    visit = Visit(browser, server.origin)
    try:
        assert visit.wait_started() == "ready"
        visit.wait("navigator.serviceWorker.controller !== null")  # installed (precache done), in control
        first = visit.classify([pictures["big.jpg"]])["big.jpg"]

        # Deploy another model (the whole-picture run) and reload: the page must use it.
        shutil.rmtree(site / "model")
        site_model_from_run(tiny_models / "runs" / "tiny-rendernet2017", site / "model")
        visit.page.reload()
        assert visit.wait_started() == "ready"
        assert visit.js("renderOrReal.spec")["view"] == "whole"
        assert "rendernet2017" in visit.page.inner_text("#info-model")
        visit.wait("navigator.serviceWorker.controller !== null")

        server.stop()
        visit.page.reload()
        assert visit.wait_started() == "ready", visit.js("renderOrReal.message")
        assert visit.js("renderOrReal.spec")["view"] == "whole"  # the cache holds the new model
        again = visit.classify([pictures["big.jpg"]])["big.jpg"]
        assert again["status"] == "done" and again["probs"] != first["probs"]
        assert visit.foreign_requests() == []
    finally:
        visit.close()
        server.stop()


@needs_browser
@pytest.mark.parametrize("damage", ["missing", "broken"])
def test_missing_or_broken_model_says_how_to_train(browser, tmp_path, tiny_site_model, damage):
    model = None
    if damage == "broken":
        model = Path(tempfile.mkdtemp(dir=tmp_path)) / "model"
        shutil.copytree(tiny_site_model, model)
        (model / "model.json").write_text('{"format": "graph-model", "modelTopology": ')  # truncated
    server = Server(make_site(tmp_path / "site", model))
    visit = Visit(browser, server.origin)
    try:
        status = visit.wait_started()
        text = visit.page.inner_text("#status")
        assert "python -m train" in text and "reload" in text
        if damage == "missing":
            assert status == "no-model" and "No model yet" in text
        else:
            assert status == "broken" and "model.json" in text
        assert visit.page.is_disabled("#pick")
        assert visit.foreign_requests() == []
    finally:
        visit.close()
        server.stop()


@needs_browser
def test_browser_benchmark_runs(browser, tiny_run):
    """benchmarks.browser_bench.bench_model, which other scripts call, gives WASM timings for a run
    folder (its preprocessing.json) and for a bare TF.js bundle (no spec: tracenet's defaults). The
    crops model takes the whole normalized picture (3:2 at max_side) and cuts its grid itself."""
    from benchmarks.browser_bench import bench_model

    for folder, source in ((tiny_run, "preprocessing.json"), (tiny_run / "tfjs", "assumed")):
        got = bench_model(folder, runs=3, browser=browser)
        assert got["backend"] == "wasm" and got["ms_per_picture"] > 0 and got["first_prediction_ms"] > 0, got
        assert got["input_shape"] == [1, 341, 512, 3] and got["spec"].startswith(source), got
    got = bench_model(tiny_run / "tfjs", runs=3, browser=browser, spec=tiny_run / "preprocessing.json")
    assert got["input_shape"] == [1, 341, 512, 3]
