"""The app's options: --models DIR (after `--` on the streamlit command line, the option every command
has) or $RENDER_OR_REAL_MODELS, and --login."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from train.config import DEFAULT_MODELS

MODELS_ENV = "RENDER_OR_REAL_MODELS"
PASSWORD_ENV = "RENDER_OR_REAL_PASSWORD"


def app_args() -> argparse.Namespace:
    """The app's own options, after `--` on the streamlit command line: --models DIR (the option every
    command has) and --login (ask for the password; the Procfile passes it)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--models")
    parser.add_argument("--login", action="store_true")
    return parser.parse_known_args(sys.argv[1:])[0]

def models_dir() -> Path:
    """--models DIR, else $RENDER_OR_REAL_MODELS (for hosts where only the environment can be set),
    else models/ (train.config.DEFAULT_MODELS)."""
    return Path(app_args().models or os.environ.get(MODELS_ENV) or DEFAULT_MODELS)
