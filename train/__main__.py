"""`python -m train`: the command line only. Its options and their defaults: config.py; what a run does:
pipeline.py (whose `main` this runs; import it from there, never from here)."""
import sys

from .pipeline import main

if __name__ == "__main__":
    sys.exit(main())
