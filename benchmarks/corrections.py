"""Learning from corrections in the page: what k corrected pictures of a new source buy, and what they cost.

    python -m benchmarks.corrections [--data ../shared/realdata] [--sources scannet,janwalter,...]
                                     [--ks 0,5,10,20] [--json FILE]

For each held-out source (one photo collection or render studio): the default recipe is trained as
`python -m train` trains it (`train.fit.train_model`) on the other sources, less a hashed fifth of
their groups kept apart as "the rest" (pictures of known sources the model never saw). Its served bundle
(the "mixed" weights, with the features output) goes into a copy of the page, in headless Chromium. The
page classifies the source's pictures and the rest; then, for each k, the visitor's part is played
through the page's own hook: forget, then mark the first k pictures of the source (in a hashed order)
with their true class, exactly what the Right/Wrong buttons do (static_site/learn.js fits its head in
TF.js). Scored, with the adapted answers (argmax): the source's pictures after the first max(k) (the same
ones for every k) and the rest. The gain shows on the source, any harm on the rest; each k is scored with
the page's harm check (on the run's reference set) on, then with it off (the corrections as fitted).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from benchmarks.realdata import DEFAULT_DATA, GROUP_PATTERN, fmt, log, quiet, real_items, source_of

DEFAULT_SOURCES = "scannet,janwalter,archvizual,rancho"  # two photo collections, two render studios
REST_SHARE = 0.2  # of the other sources' groups: never trained on, scored for harm


def split_for(items, held_out: str, group_pattern: str):
    """Items with split "test" for the held-out source and for the rest (a hashed share of the other
    sources' groups), "val" for a hashed tenth of the remaining groups, "train" for the others."""
    from train.data import group_key, stable_unit

    out = []
    for it in items:
        key = group_key(it.rel, group_pattern)
        if source_of(it.path) == held_out or stable_unit(f"rest:{key}") < REST_SHARE:
            split = "test"
        else:
            split = "val" if stable_unit(f"val:{key}") < 0.1 else "train"
        out.append(dataclasses.replace(it, split=split))
    return out


def train_and_export(items, class_names, out: Path, cache: dict, verbose: bool) -> Path:
    """The default recipe on the train/val items -> a site model folder (bundle, spec, metrics)."""
    from train import data as data_lib
    from train.config import config_from_argv, make_spec
    from train.fit import train_model
    from train.export import REFERENCE_FILE, export_tfjs, page_model, reference_set
    from train.preprocess import SPEC_FILE, save_spec

    config = config_from_argv([])
    spec, _ = make_spec(config, class_names)
    with quiet(verbose):
        model, spec, _, _ = train_model(config, spec, items, data_lib.DecodeFailures(), cache=cache)
        val = [it for it in items if it.split == "val"]  # as a run: its scored, untrained pictures
        exported = page_model(model, spec, [it.path for it in val])
        export_tfjs(exported, out, quantize=config.quantize)
        reference = reference_set(exported, spec, [it.path for it in val], [it.label for it in val])
    if reference is not None:
        (out / REFERENCE_FILE).write_text(json.dumps(reference))
    save_spec(spec, out / SPEC_FILE)
    (out / "metrics.json").write_text(json.dumps({"run_id": f"bench-{out.name}", "arch": config.arch,
                                                  "created": datetime.now(timezone.utc).isoformat()}))
    return out


def play(browser, model_dir: Path, site: Path, source_pics, rest_pics, labels: dict, ks) -> dict:
    """The page on source + rest pictures; for each k, the first k source pictures corrected."""
    from benchmarks.browser_bench import Server, _open, make_site, wait_for

    make_site(site, model_dir)
    server = Server(site)
    context, page = _open(browser, server.origin, "wasm")
    try:
        files = [str(p) for p in source_pics + rest_pics]
        page.set_input_files("#files", files)
        wait_for(page, f"renderOrReal.results().length === {len(files)} && "
                       "renderOrReal.results().every((r) => r.status === 'done' || r.status === 'error')", timeout=1800)
        names = page.evaluate("renderOrReal.spec").get("class_names")
        evaluated = range(max(ks), len(source_pics))  # the same source pictures for every k
        rest = range(len(source_pics), len(files))
        out = {}
        for k in ks:
            page.evaluate("renderOrReal.forget()")
            page.evaluate("renderOrReal.harmCheck(true)")
            wait_for(page, "renderOrReal.corrections() === 0")
            t0 = time.time()
            for i in range(k):
                page.evaluate(f"renderOrReal.correct({i}, {json.dumps(labels[files[i]])})")
            learn_s = time.time() - t0

            def accuracy(results, indices):
                done = [i for i in indices if results[i]["status"] == "done"]
                top = [results[i].get("adaptedTop") or results[i]["top"] for i in done]
                return float(np.mean([t == labels[files[i]] for t, i in zip(top, done)])) if done else float("nan")

            checked = page.evaluate("renderOrReal.results()")
            harm = page.evaluate("renderOrReal.harm()")
            page.evaluate("renderOrReal.harmCheck(false)")  # the same corrections, as fitted
            unchecked = page.evaluate("renderOrReal.results()")
            out[k] = {"source": accuracy(checked, evaluated), "rest": accuracy(checked, rest),
                      "source_unchecked": accuracy(unchecked, evaluated), "rest_unchecked": accuracy(unchecked, rest),
                      "harm_check": harm, "learn_s": learn_s,
                      "tensors": page.evaluate("renderOrReal.memory().numTensors")}
        out["class_names"] = names
        out["n_source_scored"], out["n_rest"] = len(evaluated), len(rest)
        return out
    finally:
        context.close()
        server.stop()


def table(rows, ks) -> str:
    head = ("| held-out source (class, pictures scored) | " + " | ".join(f"k={k}: source / rest" for k in ks)
            + " |\n|---|" + "---|" * len(ks))
    lines = [head]
    for name, r in rows.items():
        lines.append(f"| {name} ({r['class']}, {r['n_source_scored']}; rest {r['n_rest']}) | "
                     + " | ".join(f"{fmt(r[k]['source'], 2)} / {fmt(r[k]['rest'], 2)}" for k in ks) + " |")
    means = {k: (np.nanmean([r[k]["source"] for r in rows.values()]), np.nanmean([r[k]["rest"] for r in rows.values()]))
             for k in ks}
    lines.append("| **mean** | " + " | ".join(f"**{fmt(s, 2)} / {fmt(t, 2)}**" for s, t in means.values()) + " |")
    return "\n".join(lines)


def check_table(rows, ks) -> str:
    """Gain (source) and harm (rest) against k=0, with the page's harm check on and off, means over sources."""
    def mean(key, k):
        return float(np.nanmean([r[k][key] for r in rows.values()]))

    lines = ["| k | harm check | source gain | rest harm | weakened / dropped |", "|---|---|---|---|---|"]
    for k in ks:
        if k == 0:
            continue
        checks = [r[k]["harm_check"] or {} for r in rows.values()]
        held = f"{sum(bool(c.get('weakened')) for c in checks)} / {sum(bool(c.get('dropped')) for c in checks)}"
        for on, suffix in (("on", ""), ("off", "_unchecked")):
            gain = mean("source" + suffix, k) - mean("source", 0)
            harm = mean("rest", 0) - mean("rest" + suffix, k)
            lines.append(f"| {k} | {on} | {fmt(gain, 3)} | {fmt(harm, 3)} | {held if on == 'on' else '–'} |")
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.corrections", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"real pictures (default {DEFAULT_DATA})")
    p.add_argument("--sources", default=DEFAULT_SOURCES, help=f"held-out sources, comma-separated (default {DEFAULT_SOURCES})")
    p.add_argument("--ks", default="0,5,10,20", help="numbers of corrected pictures (default 0,5,10,20)")
    p.add_argument("--group-pattern", default=GROUP_PATTERN)
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)
    args.ks = sorted({int(k) for k in args.ks.split(",")})
    args.source_list = [s.strip() for s in args.sources.split(",") if s.strip()]
    return args


def main(argv=None) -> int:
    from playwright.sync_api import sync_playwright

    from benchmarks.browser_bench import _launch
    from train.data import stable_unit

    args = parse_args(argv)
    found = real_items(args.data, args.group_pattern)
    if found is None:
        return 2
    class_names, items = found
    known = {source_of(it.path) for it in items}
    missing = [s for s in args.source_list if s not in known]
    if missing:
        print(f"error: {args.data}: no pictures of the sources {missing}", file=sys.stderr)
        return 2
    rows, cache, t0 = {}, {}, time.time()
    with tempfile.TemporaryDirectory(prefix="corrections-") as tmp, sync_playwright() as p:
        browser = _launch(p)
        for src in args.source_list:
            fitems = split_for(items, src, args.group_pattern)
            source_pics = sorted((Path(it.path) for it in fitems if source_of(it.path) == src),
                                 key=lambda q: stable_unit(f"order:{q.name}"))
            if len(source_pics) <= max(args.ks):
                log(f"{src}: {len(source_pics)} pictures, not more than k={max(args.ks)}: skipped")
                continue
            rest_pics = [Path(it.path) for it in fitems if it.split == "test" and source_of(it.path) != src]
            labels = {str(Path(it.path)): class_names[it.label] for it in fitems}
            t = time.time()
            model_dir = train_and_export(fitems, class_names, Path(tmp) / src, cache, args.verbose)
            log(f"{src}: trained on {sum(it.split != 'test' for it in fitems)} pictures in {time.time() - t:.0f} s; "
                f"the page classifies {len(source_pics)} + {len(rest_pics)} ...")
            r = play(browser, model_dir, Path(tmp) / f"site-{src}", source_pics, rest_pics, labels, args.ks)
            r["class"] = labels[str(source_pics[0])]
            rows[src] = r
            log(f"{src}: " + ", ".join(f"k={k} {fmt(r[k]['source'], 2)}/{fmt(r[k]['rest'], 2)}" for k in args.ks))
        browser.close()
    print(f"\nLearning from corrections in the page (headless Chromium, WASM): accuracy on the held-out source's "
          f"pictures after the first {max(args.ks)} / on the rest (known sources, never trained on); "
          f"{len(items)} pictures in {args.data}; {time.time() - t0:.0f} s\n")
    print(table(rows, args.ks))
    if 0 in args.ks:
        print("\nThe harm check (static_site/learn.js HARM): gain on the source and harm on the rest against k=0, "
              "the same corrections with the check on and off\n")
        print(check_table(rows, args.ks))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
