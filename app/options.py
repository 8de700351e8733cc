"""The app's options: --models DIR (after `--` on the streamlit command line, the option every command
has) or $RENDER_OR_REAL_MODELS, --data DIR (repeatable) or $RENDER_OR_REAL_DATA, and --login."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from train.config import DEFAULT_DATA, DEFAULT_MODELS

MODELS_ENV = "RENDER_OR_REAL_MODELS"
DATA_ENV = "RENDER_OR_REAL_DATA"
PASSWORD_ENV = "RENDER_OR_REAL_PASSWORD"


def app_args() -> argparse.Namespace:
    """The app's own options, after `--` on the streamlit command line: --models DIR (the option every
    command has), --data DIR (a folder pictures may be shown from; repeatable) and --login (ask for the
    password; the Procfile passes it)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--models")
    parser.add_argument("--data", action="append", default=[])
    parser.add_argument("--login", action="store_true")
    return parser.parse_known_args(sys.argv[1:])[0]

def models_dir() -> Path:
    """--models DIR, else $RENDER_OR_REAL_MODELS (for hosts where only the environment can be set),
    else models/ (train.config.DEFAULT_MODELS)."""
    return Path(app_args().models or os.environ.get(MODELS_ENV) or DEFAULT_MODELS)

def data_dirs() -> list[str]:
    """The folders pictures may be shown from, as real paths (symlinks resolved): --data DIR (repeatable),
    else $RENDER_OR_REAL_DATA (folders separated by os.pathsep), else what `python -m train` trains on by
    default: data/ and the models folder's demo-data/. Set on the server, never read from a run folder, so
    an edited metrics.json cannot widen what is served."""
    given = app_args().data or [d for d in os.environ.get(DATA_ENV, "").split(os.pathsep) if d]
    return [os.path.realpath(d) for d in given or [DEFAULT_DATA, models_dir() / "demo-data"]]
