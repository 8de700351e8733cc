"""The shape of the code: train/ is a stack (its imports, lazy ones included, never go round in a
circle), nothing imports the command `train.__main__` as a library, train.site copies files without the
rest of train, and every default of `python -m train` is typed once (the parser's are the dataclasses')."""
from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "train"


def imported_modules(path: Path, package: str = "train") -> set[str]:
    """The train modules a file imports anywhere in it (top level or inside a function), as names
    without the package: `from . import runs`, `from .runs import x`, `import train.runs`, `from train
    import runs` all give "runs"."""
    found = set()
    modules = {p.stem for p in TRAIN.glob("*.py")}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and not (node.module or "").startswith(package):
                continue
            base = (node.module or "") if node.level else node.module[len(package):].lstrip(".")
            if base:
                found.add(base.split(".")[0])
            else:  # from . import a, b  /  from train import a
                found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith(package + "."):
                    found.add(a.name.split(".")[1])
    return found


def train_graph() -> dict[str, set[str]]:
    return {p.stem: imported_modules(p) - {p.stem} for p in TRAIN.glob("*.py")}


def test_train_imports_have_no_cycle():
    graph = train_graph()
    assert {"pipeline", "config", "runs", "site", "report", "fit", "keras_fit", "lite0_head"} <= set(graph)
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(module):] + [module]))
        if module in done:
            return
        for dep in sorted(graph.get(module, ())):
            visit(dep, path + [module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


def test_cycle_check_sees_a_cycle(tmp_path):
    """The check above would fail on a cycle through a lazy import (the parser is not blind to them)."""
    f = tmp_path / "x.py"
    f.write_text("def f():\n    from .runs import promote\n    import train.site\n    from train import files\n")
    assert imported_modules(f) == {"runs", "site", "files"}


def test_nothing_imports_the_command_module():
    """`python -m train` is a command; its code lives in train.pipeline (main) and train.config (the
    options), which is what the tests, benchmarks, app and train.features import."""
    offenders = []
    for path in [*ROOT.glob("*.py"), *ROOT.glob("train/*.py"), *ROOT.glob("app/*.py"), *ROOT.glob("benchmarks/*.py"),
                 *ROOT.glob("tests/*.py")]:
        if path == TRAIN / "__main__.py":
            continue
        if "__main__" in imported_modules(path):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_the_command_module_only_runs_the_pipeline():
    assert imported_modules(TRAIN / "__main__.py") == {"pipeline"}
    assert len((TRAIN / "__main__.py").read_text().splitlines()) < 15


def test_site_copies_files_without_the_rest_of_train():
    """train.site is pure file copying: only train's two standard-library leaves."""
    assert imported_modules(TRAIN / "site.py") <= {"files", "errors"}
    assert imported_modules(TRAIN / "files.py") == set() and imported_modules(TRAIN / "errors.py") == set()


def test_parser_defaults_are_the_dataclass_defaults():
    """Every option of `python -m train` that is a TrainConfig or RunOptions field has that field's
    default, and no argument at all gives TrainConfig() (resolved) and RunOptions()."""
    from train.config import EngineOptions, RunOptions, TrainConfig, parse_args, parser

    p = parser()
    for cls in (TrainConfig, RunOptions, EngineOptions):
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            assert p.get_default(f.name) == default, f.name
    args = parse_args([])
    assert args.config == TrainConfig().resolved()
    assert RunOptions(**{f.name: getattr(args, f.name) for f in dataclasses.fields(RunOptions)}) == RunOptions()
    # No option of the parser escapes the dataclasses (but --out, --models's former name).
    dests = {a.dest for a in p._actions} - {"help"}
    assert dests == {f.name for cls in (TrainConfig, RunOptions, EngineOptions) for f in dataclasses.fields(cls)}


def test_the_models_default_is_one_name_in_every_command():
    """--models is typed once (config.DEFAULT_MODELS): train, train.predict, train.runs, train.export,
    train.publish and the app all read it from there."""
    import re

    literal = re.compile(r'default\s*=\s*(Path\()?"models/?"')
    for path in [*ROOT.glob("train/*.py"), *ROOT.glob("app/*.py"), ROOT / "streamlit_app.py"]:
        assert not literal.search(path.read_text()), path


def test_help_of_every_command_loads_no_machine_learning_library():
    """`--help` prints before TensorFlow, Keras or scikit-learn is imported (each takes seconds): the
    heavy imports happen where the work starts. Checked by what is imported, not by a clock."""
    import subprocess
    import sys

    commands = ["train"] + [f"train.{p.stem}" for p in sorted(TRAIN.glob("*.py"))
                            if p.stem != "__main__" and "\nif __name__ == \"__main__\":" in p.read_text()]
    probe = ("import runpy, sys\nsys.argv = [sys.argv[1], '--help']\n"
             "try:\n    runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)\n"
             "except SystemExit as e:\n    assert e.code in (0, None), e.code\n"
             "heavy = sorted(m for m in ('tensorflow', 'keras', 'sklearn', 'scipy', 'pandas') if m in sys.modules)\n"
             "print('HEAVY', ','.join(heavy))\n")
    for module in commands:
        out = subprocess.run([sys.executable, "-c", probe, module], cwd=ROOT, capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0, (module, out.stderr[-500:])
        assert "usage:" in out.stdout, module
        assert out.stdout.strip().splitlines()[-1] == "HEAVY", (module, out.stdout.strip().splitlines()[-1])
