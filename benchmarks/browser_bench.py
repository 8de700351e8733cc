"""The static page's speed in headless Chromium, per TF.js backend, and what a first visit downloads.

    python -m benchmarks.browser_bench [--run models/current] [--runs 30]
                                       [--backends wasm,wasm:1,wasm:2,webgpu,webgl,cpu] [--pictures FOLDER] [--json FILE]

--run is a run folder (its served TF.js bundle, preprocessing.json and metrics.json are used) or a bare
TF.js bundle folder (model.json + shards; the spec is then assumed, see `site_spec`). The page is the
real one (static_site/ with vendor/ from `npm run build`), served from a temp copy on 127.0.0.1 and
driven by Playwright with Debian's /usr/bin/chromium.

Measured, for each backend (a fresh browser profile each, the service worker blocked so it does not
compete with the page; `wasm:N`: the page cross-origin isolated by its service worker, a second visit,
WASM with N threads; `wasm` alone is a first visit, not isolated, hence one thread; WebGPU runs on
Chromium's SwiftShader here, `--enable-unsafe-webgpu`):
- time to first prediction: navigation start -> warm-up prediction done (runtime, model and first
  kernel compilation; local server, so network time is ~0);
- model ms per picture: median over --runs predictions of one picture after warm-up (a "crops" model
  cuts and votes its grid of crops itself);
- page ms per picture: median over real pictures put through the page (preprocessing + model, the
  time shown on each card), and decoding ms separately.
And, on a first visit with the service worker allowed: the backend the page chooses by measuring
(static_site/classifier.js chooseBackend) and how long the choice took; the bytes downloaded (runtime,
model, page), plus what the service worker re-requests to cache for offline use.

`bench_model(model_dir)` returns the WASM figures as a dict, for other scripts.
"""
from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from train.site import PAGE_FILES

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "static_site"
CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
WEBGPU_ARGS = ["--enable-unsafe-webgpu"]  # Chromium offers WebGPU on SwiftShader here only with this
SITE_FILES = PAGE_FILES  # the page's own files: the one list, train/publish.py's
BACKENDS = ("wasm", "wasm:1", "wasm:2", "webgpu", "webgl", "cpu")  # wasm:N: isolated, N threads


class BenchError(RuntimeError):
    """Something the benchmark needs is missing; the message says what."""


# ---------------------------------------------------------------- the site to serve


def site_spec(model_dir: Path) -> tuple[dict, str]:
    """The preprocessing spec for a model folder -> (spec json, where it came from). A bare bundle
    (no preprocessing.json) gets the `python -m train` defaults for its architecture, found by the
    Keras model name in the graph, and its input size and class count from the signature."""
    model_dir = Path(model_dir)
    if (model_dir / "preprocessing.json").is_file():
        return json.loads((model_dir / "preprocessing.json").read_text()), "preprocessing.json"
    from train.config import ARCHS
    from train.preprocess import Spec

    model_json = json.loads((model_dir / "model.json").read_text())
    sig = model_json["signature"]
    in_dims = next(iter(sig["inputs"].values()))["tensorShape"]["dim"]
    outputs = sig["outputs"]
    out_dims = (outputs.get("probabilities") or next(iter(outputs.values())))["tensorShape"]["dim"]
    size, classes = int(in_dims[1]["size"]), int(out_dims[-1]["size"])
    topology = json.dumps(model_json["modelTopology"])
    arch = next((a for a in ARCHS if f"/{a}" in topology), None)
    view = ARCHS[arch].view if arch else "whole"
    if size < 1:  # pictures of any size (crops and picture views): the architecture's default input size
        size = ARCHS[arch].input_size if arch else 224
    spec = Spec(class_names=tuple(f"class{i}" for i in range(classes)), input_size=size, view=view)
    return spec.to_json(), f"assumed ({arch or 'unknown arch'}: view {view}, grid {spec.grid})"


def make_site(dst: Path, model_dir: Path, spec=None) -> tuple[Path, str]:
    """A temp deployable copy of static_site/ whose model/ is model_dir (a run or a bare bundle);
    `spec` (a preprocessing.json path or its dict) overrides the folder's or the assumed one."""
    if not (SITE / "vendor" / "runtime.json").is_file():
        raise BenchError("static_site/vendor missing: npm --prefix static_site ci && npm --prefix static_site run build")
    model_dir = Path(model_dir)
    if not (model_dir / "model.json").is_file() and (model_dir / "metrics.json").is_file():
        # A run folder: the bundle the training command serves, plus its spec and report.
        served = json.loads((model_dir / "metrics.json").read_text()).get("model", {}).get("served_tfjs", "tfjs")
        bundle = model_dir / served
    else:
        bundle = model_dir
    if not (bundle / "model.json").is_file():
        raise BenchError(f"{model_dir}: no TF.js model (model.json) there, nor a run folder")
    dst.mkdir(parents=True)
    for name in SITE_FILES:
        shutil.copy2(SITE / name, dst / name)
    shutil.copytree(SITE / "vendor", dst / "vendor")
    shutil.copytree(bundle, dst / "model", ignore=shutil.ignore_patterns("preprocessing.json", "metrics.json"))
    if spec is not None:
        source = str(spec) if not isinstance(spec, dict) else "given"
        spec = spec if isinstance(spec, dict) else json.loads(Path(spec).read_text())
    else:
        spec, source = site_spec(model_dir if (model_dir / "preprocessing.json").is_file() else bundle)
    (dst / "model" / "preprocessing.json").write_text(json.dumps(spec, indent=2))
    if (model_dir / "metrics.json").is_file():
        shutil.copy2(model_dir / "metrics.json", dst / "model" / "metrics.json")
    return dst, source


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class Server:
    """python -m http.server, in a thread, on 127.0.0.1 and a free port (the tests serve with it too)."""

    def __init__(self, root: Path):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()  # the port now refuses connections: the browser is "offline"


# ---------------------------------------------------------------- measuring


def wait_for(page, expression: str, timeout: float = 120):
    # evaluate() polling: wait_for_function would eval a string, which the page's CSP forbids.
    end = time.time() + timeout
    while time.time() < end:
        value = page.evaluate(expression)
        if value:
            return value
        time.sleep(0.02)
    raise BenchError(f"timed out waiting for {expression}")


READY_S = 600  # WebGPU on SwiftShader compiles lite0's shaders for about a minute (loaded machine: more)


def _ready(page, what: str, context):
    status = wait_for(page, "window.renderOrReal && renderOrReal.status !== 'loading' && renderOrReal.status", READY_S)
    if status != "ready":
        message = page.evaluate("renderOrReal.message") or page.inner_text("#status")
        context.close()
        raise BenchError(f"page not ready on {what}: {status}: {message}")


def _open(browser, origin: str, backend: str | None, service_workers: str = "block"):
    """The page on `backend` ("wasm:N": WASM with N threads, the page isolated by its service worker:
    a first visit installs it, the measured one is the reload it controls)."""
    name, _, threads = (backend or "").partition(":")
    query = "&".join(q for q in (name and f"backend={name}", threads and f"threads={threads}") if q)
    context = browser.new_context(service_workers="allow" if threads else service_workers)
    page = context.new_page()
    page.goto(f"{origin}/" + (f"?{query}" if query else ""))
    _ready(page, backend, context)
    if threads:
        wait_for(page, "navigator.serviceWorker.controller !== null", timeout=60)
        page.reload()
        _ready(page, backend, context)
        if not page.evaluate("crossOriginIsolated"):
            context.close()
            raise BenchError("the service worker did not make the page cross-origin isolated")
    return context, page


def measure_backend(browser, origin: str, backend: str, runs: int, pictures: list[Path]) -> dict:
    context, page = _open(browser, origin, backend)
    try:
        got = page.evaluate("renderOrReal.backend")
        if got != backend.partition(":")[0]:
            raise BenchError(f"asked for {backend}, the page runs {got}")
        first = page.evaluate("renderOrReal.firstPredictionMs")
        model = page.evaluate(f"renderOrReal.timeModel({int(runs)})")
        out = {"backend": backend, "ms_per_picture": model["msPerPicture"], "input_shape": model["shape"],
               "first_prediction_ms": first, "threads": page.evaluate("renderOrReal.wasmThreads"),
               "isolated": page.evaluate("crossOriginIsolated")}
        if pictures:
            page.set_input_files("#files", [str(p) for p in pictures])
            page.evaluate("renderOrReal.idle()")
            wait_for(page, f"renderOrReal.results().length >= {len(pictures)} && "
                        "renderOrReal.results().every((r) => r.status !== 'pending')")
            done = [r for r in page.evaluate("renderOrReal.results()") if r["status"] == "done"]
            if done:
                out["page_ms_per_picture"] = statistics.median(r["predictMs"] for r in done)
                out["decode_ms_per_picture"] = statistics.median(r["decodeMs"] for r in done)
                out["pictures"] = len(done)
        return out
    finally:
        context.close()


def first_visit_bytes(browser, origin: str, root: Path | None = None) -> dict:
    """Bytes a first visit downloads: a fresh profile, the service worker allowed (it re-requests the
    files to cache them; mostly answered from the HTTP cache, counted apart). With the served `root`,
    also what each part weighs gzip-compressed (how most static hosts send it; http.server does not)."""
    sizes = {"runtime": 0, "model": 0, "page": 0, "service_worker": 0}
    files = {}
    context = browser.new_context(service_workers="allow")

    def finished(request):
        body = request.sizes()["responseBodySize"]
        if request.service_worker is not None:
            sizes["service_worker"] += body
            return
        path = request.url.split("?")[0][len(origin):]
        kind = "runtime" if path.startswith("/vendor/") else "model" if path.startswith("/model/") else "page"
        sizes[kind] += body
        files[path] = files.get(path, 0) + body

    context.on("requestfinished", finished)
    page = context.new_page()
    page.goto(origin + "/")
    wait_for(page, "window.renderOrReal && renderOrReal.status !== 'loading'", READY_S)
    choice = page.evaluate("renderOrReal.backendChoice")
    chosen_after_ms = page.evaluate("renderOrReal.firstPredictionMs")
    wait_for(page, "navigator.serviceWorker.controller !== null", timeout=60)  # precache done
    time.sleep(0.5)
    context.close()
    gzipped = {}
    if root is not None:
        for path in files:
            local = Path(root) / path.lstrip("/")
            kind = "runtime" if path.startswith("/vendor/") else "model" if path.startswith("/model/") else "page"
            if local.is_file():
                gzipped[kind] = gzipped.get(kind, 0) + len(gzip.compress(local.read_bytes(), 9))
    return {**sizes, "first_visit": sizes["runtime"] + sizes["model"] + sizes["page"], "files": files,
            "gzip": gzipped, "choice": choice, "chosen_after_ms": chosen_after_ms}


def _launch(p):
    if not CHROMIUM.is_file():
        raise BenchError(f"{CHROMIUM} not installed (bash setup.sh --test)")
    return p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS + WEBGPU_ARGS)


def sample_pictures(model_dir: Path, n: int, folder: Path | None = None) -> list[Path]:
    """Pictures to put through the page: --pictures, else the run's test pictures, else generated ones."""
    from train.preprocess import IMAGE_EXTENSIONS

    if folder:
        found = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        return found[:: max(1, len(found) // n)][:n]
    csv_path = Path(model_dir) / "predictions.csv"
    if csv_path.is_file():
        import csv

        with open(csv_path, newline="") as f:
            rows = [r["path"] for r in csv.DictReader(f) if r["split"] == "test" and Path(r["path"]).is_file()]
        if rows:
            return [Path(r) for r in rows[:n]]
    from train.demo_data import make_demo_dataset

    tmp = Path(tempfile.mkdtemp(prefix="bench-pictures-"))
    make_demo_dataset(tmp, n_per_class=max(1, n // 2), seed=0)
    return sorted(p for p in tmp.rglob("*") if p.is_file())[:n]


def bench(model_dir: Path, backends=BACKENDS, runs: int = 30, pictures: list[Path] | None = None,
          bytes_too: bool = True, browser=None, spec=None) -> dict:
    """All the measurements for one model folder. `browser`: a Playwright Chromium already running
    (Playwright's sync API cannot be started twice in one thread); else one is launched."""
    with tempfile.TemporaryDirectory(prefix="browser-bench-") as tmp:
        site, spec_source = make_site(Path(tmp) / "site", Path(model_dir), spec)
        server = Server(site)
        try:
            if browser is not None:
                rows, errors, downloads = _bench_on(browser, server.origin, backends, runs, pictures, bytes_too, site)
            else:
                from playwright.sync_api import sync_playwright

                with sync_playwright() as p:
                    own = _launch(p)
                    try:
                        rows, errors, downloads = _bench_on(own, server.origin, backends, runs, pictures, bytes_too, site)
                    finally:
                        own.close()
        finally:
            server.stop()
    return {"model": str(model_dir), "spec": spec_source, "backends": rows, "errors": errors, "bytes": downloads}


def _bench_on(browser, origin, backends, runs, pictures, bytes_too, root=None):
    rows, errors = [], {}
    for backend in backends:
        try:
            rows.append(measure_backend(browser, origin, backend, runs, pictures or []))
        except BenchError as e:
            errors[backend] = str(e)
    return rows, errors, (first_visit_bytes(browser, origin, root) if bytes_too else None)


def bench_model(model_dir, runs: int = 30, backend: str = "wasm", browser=None, spec=None) -> dict:
    """WASM (or `backend`) timing of a model folder (run folder or bare TF.js bundle) in headless
    Chromium: {"ms_per_picture", "input_shape", "first_prediction_ms", "backend", "spec"}; model time
    only (one picture; a crops model cuts and votes its crops itself), median of `runs` after warm-up.
    For a bare bundle the spec is the `python -m train` default for its architecture (see site_spec)
    unless `spec` (preprocessing.json path or dict) is given."""
    got = bench(Path(model_dir), backends=(backend,), runs=runs, pictures=None, bytes_too=False, browser=browser,
                spec=spec)
    if not got["backends"]:
        raise BenchError(got["errors"].get(backend, f"{backend} did not run"))
    row = got["backends"][0]
    return {"ms_per_picture": row["ms_per_picture"], "input_shape": row["input_shape"],
            "first_prediction_ms": row["first_prediction_ms"], "backend": row["backend"], "spec": got["spec"]}


# ---------------------------------------------------------------- command line


def print_table(result: dict) -> None:
    f = lambda v, d=1: "–" if v is None else f"{v:.{d}f}"  # noqa: E731
    print(f"model: {result['model']} (spec: {result['spec']})")
    print("\n| backend | threads | first prediction (ms from navigation) | model ms/picture | model input | "
          "page ms/picture (preprocess + model) | decode ms/picture |")
    print("|---|---|---|---|---|---|---|")
    for r in result["backends"]:
        threads = "–" if r.get("threads") is None else f"{r['threads']}{' (isolated)' if r.get('isolated') else ''}"
        print(f"| {r['backend']} | {threads} | {f(r['first_prediction_ms'], 0)} | {f(r['ms_per_picture'], 2)} | "
              f"{'x'.join(map(str, r['input_shape'][1:3]))} | {f(r.get('page_ms_per_picture'), 2)} | "
              f"{f(r.get('decode_ms_per_picture'), 2)} |")
    for backend, e in result["errors"].items():
        print(f"| {backend} | | failed: {e} | | | | |")
    b = result["bytes"]
    if b and b.get("choice"):
        c = b["choice"]
        tried = "; ".join(f"{t['backend']} " + (f"failed: {t['error']}" if t["error"] else
                          f"{f(t['ms'])} ms, self-check {'passed' if not t['check'] or t['check']['passed'] else 'failed'}"
                          + (f" ({t['check']['maxDiff']:.2g} off, allowed {t['check']['tolerance']:.2g})" if t["check"] else ""))
                          for t in c["tried"])
        print(f"\nfirst visit: the page measured and chose {c['backend']} ({tried}); ready "
              f"{f(b['chosen_after_ms'], 0)} ms after navigation")
    if b:
        kb = lambda n: f"{n / 1024:,.0f} KB"  # noqa: E731
        print(f"\nfirst visit downloads {kb(b['first_visit'])}: runtime {kb(b['runtime'])}, model {kb(b['model'])}, "
              f"page {kb(b['page'])}; the service worker's caching re-requests {kb(b['service_worker'])} more")
        z = b.get("gzip") or {}
        if z:
            print(f"gzip-compressed: runtime {kb(z.get('runtime', 0))}, model {kb(z.get('model', 0))}, "
                  f"page {kb(z.get('page', 0))}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.browser_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--run", type=Path, default=Path("models/current"), help="run folder or TF.js bundle folder")
    p.add_argument("--runs", type=int, default=30, help="timed predictions per backend (median reported)")
    p.add_argument("--backends", default=",".join(BACKENDS),
                   help="comma-separated, from wasm, wasm:N (isolated, N threads), webgpu, webgl, cpu")
    p.add_argument("--pictures", type=Path, default=None, help="folder of pictures for the page timing")
    p.add_argument("--n-pictures", type=int, default=12, help="pictures put through the page per backend")
    p.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    args = p.parse_args(argv)
    run = args.run.resolve() if args.run.exists() else args.run
    if not Path(run).is_dir():
        print(f"error: {args.run}: no such folder; train a model with `python -m train`", file=sys.stderr)
        return 2
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    try:
        pictures = sample_pictures(run, args.n_pictures, args.pictures)
        result = bench(run, backends=backends, runs=args.runs, pictures=pictures)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print_table(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
