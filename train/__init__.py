"""render-or-real's trainer: `python -m train` (see README)."""
import os

# TensorFlow's start-up chatter (oneDNN notes, CPU feature lines) off for every entry point that imports
# train: the trainer, train.predict, train.publish, train.runs, the app and the benchmarks.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
