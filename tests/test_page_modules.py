"""The page's script as ES modules: the pure parts (results.js) tested in Node, every module importable
with no DOM and doing nothing on import (index.js alone starts the page), and one list of the page's
files (static_site/files.json) that train.site publishes and sw.js caches."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "static_site"
needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")


@needs_node
def test_pure_parts_in_node():
    proc = subprocess.run(["node", "--test", str(ROOT / "tests" / "js")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "# fail 0" in proc.stdout and "# pass " in proc.stdout


@needs_node
def test_modules_do_nothing_on_import():
    """Imported in bare Node (no document, no window, no TF.js), each module only defines things: a
    module that touched the DOM or started the page on import would throw or leave a global behind."""
    modules = sorted(p.name for p in SITE.glob("*.js") if p.name not in ("index.js", "sw.js"))
    assert {"app.js", "results.js", "cards.js", "table.js", "inputs.js", "testhook.js", "ui.js"} <= set(modules)
    script = ("const before = new Set(Object.keys(globalThis));"
              f"for (const m of {json.dumps(modules)}) await import('./' + m);"
              "const added = Object.keys(globalThis).filter((k) => !before.has(k));"
              "console.log(JSON.stringify(added));")
    proc = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True,
                          cwd=SITE, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
    assert "start()" in (SITE / "index.js").read_text()


def test_one_list_of_the_page_files():
    from train.site import PAGE_FILES

    listed = set(PAGE_FILES)
    on_disk = {p.name for p in SITE.iterdir() if p.is_file() and p.suffix in (".html", ".js", ".css", ".svg")}
    assert listed == on_disk | {"files.json"}
    sw = (SITE / "sw.js").read_text()
    assert "files.json" in sw and not any(f'"{name}"' in sw for name in listed - {"files.json", "sw.js"})
    html = (SITE / "index.html").read_text()
    assert '<script type="module" src="index.js"></script>' in html


@needs_node
def test_audit_scores_mirror_train_evaluate():
    """The page's audit (audit.js scoresFromConfusion) scores a confusion matrix as train/evaluate.py does:
    the same accuracy, balanced accuracy, macro F1 and per-class precision/recall/F1/support, also with a
    class absent, a class never predicted, and three classes."""
    from train.evaluate import scores_from_confusion

    cases = [([[8, 2], [3, 7]], ["photo", "render"]), ([[5, 0], [0, 0]], ["photo", "render"]),
             ([[0, 4], [0, 6]], ["photo", "render"]), ([[4, 1, 0], [2, 3, 1], [0, 0, 0]], ["a", "b", "c"])]
    script = ("import { scoresFromConfusion } from './audit.js';"
              f"console.log(JSON.stringify({json.dumps(cases)}.map(([m, names]) => scoresFromConfusion(m, names))));")
    proc = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True,
                          cwd=SITE, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for (m, names), page in zip(cases, json.loads(proc.stdout.strip().splitlines()[-1])):
        python = scores_from_confusion(np.asarray(m), names)
        for key in ("n", "accuracy", "balanced_accuracy", "macro_f1"):
            assert page[key] == pytest.approx(python[key], abs=1e-12), (m, key)
        for name in names:
            for key in ("precision", "recall", "f1", "support"):
                assert page["per_class"][name][key] == pytest.approx(python["per_class"][name][key], abs=1e-12), (m, name, key)
