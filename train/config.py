"""Every default of a training run, declared once.

- TrainConfig: what one run is asked to do, whoever asks (`python -m train`, the benchmarks); saved in
  the run's metrics.json.
- RunOptions: where the data and models are and what to do with the run (not part of what it learns).
- ARCHS: each architecture's view and sizes (the fields TrainConfig leaves None); QUANTIZATIONS: the
  TF.js bundle's weight storages.
- The command line of `python -m train`, built from the two dataclasses' fields (their defaults and help
  live on the fields, so the parser retypes nothing), and make_spec: a config and the class names -> the
  run's preprocessing contract.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .data import DataError
from .evaluate import SOURCE_PATTERN
from .preprocess import DEFAULT_MAX_SIDE, Spec

DEFAULT_DATA = Path("data")
DEFAULT_MODELS = Path("models")
DEFAULT_SITE = Path("static_site")

ABOUT = """python -m train: image folders -> a Keras model, a TF.js bundle and an evaluation report.

    data/<class>/**/*.{jpg,jpeg,png,webp,bmp,gif}   one folder per class, any number >= 2
    models/runs/<run-id>/                           everything one run writes
    models/current -> runs/<run-id>                 moved only once a run is complete

With no data folder, a synthetic demo data set (render vs photo) is generated and used.
"""


@dataclass(frozen=True)
class Arch:
    """One architecture: which view of a picture it reads (preprocess.py) and its sizes."""
    view: str  # "whole", "crops" or "picture"
    input_size: int
    about: str
    max_side: int = DEFAULT_MAX_SIDE  # crops and picture views: longer side brought down to this
    min_side: int = 1  # shorter side below this: too small to judge (the crops view: below a crop)
    quantize: str = "float16"  # the served TF.js bundle's weights


ARCHS = {
    "lite0": Arch(view="picture", input_size=32, max_side=384, min_side=64, quantize="mixed",
                  about="ImageNet EfficientNet-Lite0 (frozen) on the whole picture, longer side at most 384 px; "
                        "mean and spread of four feature maps, a linear head fitted by logistic regression, "
                        "calibrated (default)"),
    "tracenet": Arch(view="crops", input_size=64,
                     about="compact CNN on the noise residual (fixed high-pass first layer) of native-resolution "
                           "crops, votes over a grid of crops"),
    "rendernet2017": Arch(view="whole", input_size=200,
                          about="re-creation of the 2017 experiment: whole picture shrunk to 200x200"),
}

# Weight storage of a TF.js bundle -> the converter's quantization map. "mixed": uint8 for the blocks 8-15
# of lite0's backbone (86 % of its weights; measured: same answers as float32 to ~0.04), float16 for the
# rest (its first blocks and heads, where uint8 per-tensor ranges cost accuracy). Other networks have no
# such blocks, so "mixed" is float16 for them.
QUANTIZATIONS = {
    "float32": None,
    "float16": {"float16": True},
    "uint8": {"uint8": True},
    "mixed": {"uint8": ["*blocks_[89]_*", "*blocks_1[0-5]_*"], "float16": True},
}

VIEWS_PER_EPOCH = 4096  # crops view, no crops_per_image: crops per picture = this / pictures
EPOCHS_FEW, EPOCHS_MANY, MANY_PICTURES = 16, 8, 1000  # no epochs given: FEW below MANY_PICTURES, else MANY


def _per_arch(key: str) -> str:
    return ", ".join(f"{getattr(a, key)} for {name}" for name, a in ARCHS.items())


def option(default, help: str, **argparse_kwargs):
    """A dataclass field that is also a command-line option: its default, its help, and what argparse
    needs beyond them (flags, type, choices, action, at_least). Mutable defaults are copied per instance."""
    meta = {"help": help, **argparse_kwargs}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def split_fractions(text: str) -> tuple[float, float, float]:
    """--split "80/10/10" -> (0.8, 0.1, 0.1)."""
    try:
        parts = [float(x) for x in text.split("/")]
        assert len(parts) == 3 and all(x >= 0 for x in parts) and parts[0] > 0 and sum(parts) > 0
    except (ValueError, AssertionError):
        raise argparse.ArgumentTypeError(f"{text!r}: expected three percentages like 80/10/10") from None
    return tuple(x / sum(parts) for x in parts)


def percentages(fractions) -> str:
    return "/".join(f"{100 * x:g}" for x in fractions)


def named_pattern(text: str) -> tuple[str, str]:
    """--slice "NAME=REGEX" -> (NAME, REGEX)."""
    name, sep, pattern = text.partition("=")
    try:
        re.compile(pattern)
    except re.error as e:
        raise argparse.ArgumentTypeError(f"{text!r}: bad regex ({e})") from None
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=REGEX")
    return name, pattern


class AddToDict(argparse.Action):
    """A repeatable NAME=VALUE option collected into a dict (a fresh one: the default is never changed)."""

    def __call__(self, parser, namespace, value, option_string=None):
        setattr(namespace, self.dest, {**(getattr(namespace, self.dest) or {}), value[0]: value[1]})


@dataclass(frozen=True)
class TrainConfig:
    arch: str = option("lite0", "; ".join(f"{k}: {v.about}" for k, v in ARCHS.items()), choices=list(ARCHS))
    epochs: int | None = option(None, f"most epochs to train, early stopping may end sooner (default: {EPOCHS_FEW} "
                                      f"for fewer than {MANY_PICTURES} training pictures, else {EPOCHS_MANY})",
                                type=int, at_least=1)
    patience: int = option(6, "epochs without val-loss improvement before stopping", type=int)
    batch_size: int = option(32, "views per training batch", type=int, at_least=1)
    image_size: int | None = option(None, f"model input size in pixels (default: {_per_arch('input_size')})", type=int)
    grid: int = option(4, "crops view: grid x grid crops are voted at prediction", type=int, at_least=1)
    max_side: int | None = option(None, "crops and picture views: longer side brought down to this (default: "
                                        f"{_per_arch('max_side')})", type=int, at_least=1)
    copies: int = option(0, "lite0: augmented copies (JPEG, scale, mirror, exposure) of each training picture whose "
                            "features the head also learns from (default 0: measured no better on sources held out)",
                         type=int, at_least=0)
    calibrate_holding_out: str = option(
        "groups", "lite0: what the calibration and the unsure level hold out. groups: new houses and projects of "
                  "the sources trained on (answers more often; on sources never seen 'sure' is right less often "
                  "than promised). sources: whole sources, when every class has at least 3 (the unsure level then "
                  "holds better on sources never seen, and the model answers less often; benchmarks.sources "
                  "measures both)", choices=["groups", "sources"])
    crops_per_image: int | None = option(None, "crops view: random crops cut from each decoded training picture per "
                                               f"epoch (default: enough for about {VIEWS_PER_EPOCH} crops per epoch, "
                                               "2 to 32 per picture)", type=int, at_least=1)
    learning_rate: float = option(1e-3, "Adam learning rate", flags=("--learning-rate", "--lr"), type=float)
    seed: int = option(0, "seed for weights, shuffling and augmentation", type=int, at_least=0)
    fractions: tuple[float, float, float] = option(
        (0.8, 0.1, 0.1), "train/val/test percentages (default {default})", flags=("--split",), type=split_fractions, metavar="SPLIT",
        shown=percentages)
    group_pattern: str | None = option(
        None, "regex on file names; pictures whose match (first group) is equal share a split (one house, one render "
              "project). Default: the file name without its last part after a '_', '-', ' ' or '.' when that part "
              "is a word or a 1-2 digit number (houses_12_kitchen -> houses_12, project-7-2 -> project-7; IMG_1234 "
              "stays alone). 'none': every picture on its own")
    source_pattern: str = option(SOURCE_PATTERN, "regex on file names whose first group names a picture's source; "
                                                 "metrics.json reports accuracy per source (default: the text before "
                                                 "the first '_')")
    slices: dict[str, str] = option({}, "also score the pictures whose path matches REGEX, reported as NAME in "
                                        "metrics.json (repeatable; e.g. interiors='bedroom|kitchen|bathroom|interior')",
                                    flags=("--slice",), type=named_pattern, action=AddToDict, metavar="NAME=REGEX")
    positive_class: str | None = option(None, "two classes: the class the threshold and ROC are about (default: "
                                              "the second name)")
    quantize: str | None = option(
        None, "weights of the TF.js bundle the static site serves: float16 is half the bytes of float32 with the "
              "same answers to ~1e-3; uint8 a quarter, at some accuracy cost (large for lite0); mixed: uint8 for "
              "lite0's later blocks, float16 elsewhere (metrics.json tfjs_check measures each). Default: "
              f"{_per_arch('quantize')}", choices=list(QUANTIZATIONS))
    augment: bool = option(True, "train without augmentation")

    def resolved(self) -> TrainConfig:
        """The same with the architecture's defaults filled in where a field is None."""
        if self.arch not in ARCHS:
            raise ValueError(f"unknown architecture {self.arch!r} (choose from {', '.join(ARCHS)})")
        arch = ARCHS[self.arch]
        return dataclasses.replace(self, image_size=self.image_size or arch.input_size,
                                   max_side=self.max_side or arch.max_side, quantize=self.quantize or arch.quantize)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RunOptions:
    data: Path = option(DEFAULT_DATA, f"folder with one sub-folder of pictures per class (default: {DEFAULT_DATA}/; "
                                      f"when {DEFAULT_DATA}/ does not exist a synthetic demo set is generated)", type=Path)
    models: Path = option(DEFAULT_MODELS, f"models folder (default: {DEFAULT_MODELS}/), the same option as "
                                          "train.predict, train.publish, train.runs and the app: runs go to "
                                          "MODELS/runs/<run-id>, MODELS/current is the current one", type=Path)
    static_site: Path | None = option(None, "static site whose model/ follows the current run ('' for none; default: "
                                            f"{DEFAULT_SITE}/ when the models folder is {DEFAULT_MODELS}/, none "
                                            "otherwise)", type=Path)
    demo: bool = option(False, "train on the synthetic demo data set (generated once). Without data/ and without "
                               "any run on real pictures, the demo runs anyway; once one exists, only when asked")
    force: bool = option(False, "make the new run current even if it does worse than the current one on the "
                                "pictures both scored, or is a demo run replacing a run on real pictures")
    resume: str | None = option(None, "continue a failed run (same arguments; saved weights or features are reused)",
                                metavar="RUN")
    init_from: str | None = option(None, "start from an earlier run ('current' or a run id): lite0 reuses its picture "
                                         "features (only new or changed pictures are computed), the Keras-trained "
                                         "archs its weights", metavar="RUN")
    features: list[Path] = option([], "lite0: picture features computed beforehand, e.g. on N machines by `python -m "
                                      "train.features --shard I/N` (pictures found there are not embedded again)",
                                  nargs="+", type=Path, metavar="FILE")
    demo_per_class: int = option(1000, "demo data: pictures per class", type=int, at_least=1)
    run_id: str | None = option(None, "name of the run folder (default: time stamp + arch)")


@dataclass(frozen=True)
class EngineOptions:
    """Where the parallel parts of a job run (train/cluster.py): `python -m train` (lite0's features),
    `python -m train.predict` and `python -m train.features` take the same three options."""
    cluster: str | None = option(None, "run the pictures' tasks on the Dask cluster whose scheduler is at ADDRESS "
                                       "(e.g. tcp://scheduler:8786; default: $DASK_SCHEDULER_ADDRESS when set). The "
                                       "workers must see the pictures at the same paths", metavar="ADDRESS")
    workers: int | None = option(None, "run them on a local Dask cluster of N worker processes (default, with "
                                       "neither option: in this process, no engine)", type=int, at_least=1,
                                 metavar="N")
    chunk: int = option(512, "pictures per task, and per chunk file of a run's features (in this process too): a "
                             "lost worker, an interrupt or a kill costs at most this many pictures' work, and a "
                             "stopped job resumes from the last chunk that landed", type=int, at_least=1)


def add_options(parser: argparse.ArgumentParser, cls) -> None:
    """One option per field of the dataclass `cls`, with the field's default and help."""
    for f in dataclasses.fields(cls):
        meta = dict(f.metadata)
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        flag = f"--{f.name.replace('_', '-')}"
        meta.pop("at_least", None)
        shown = meta.pop("shown", str)
        meta["help"] = meta["help"].replace("{default}", shown(default))
        flags = meta.pop("flags", (flag,))
        if isinstance(default, bool):
            flags, meta["action"] = ((f"--no-{f.name.replace('_', '-')}",), "store_false") if default else \
                ((flag,), "store_true")
        parser.add_argument(*flags, dest=f.name, default=default, **meta)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m train", description=ABOUT,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(p, RunOptions)
    p.add_argument("--out", dest="models", type=Path, help=argparse.SUPPRESS)  # --models's former name
    add_options(p, TrainConfig)
    add_options(p, EngineOptions)
    return p


def check_at_least(p: argparse.ArgumentParser, args: argparse.Namespace, *classes) -> None:
    """The fields' `at_least` bounds, said as the parser's own errors."""
    for cls in classes:
        for f in dataclasses.fields(cls):
            least, value = f.metadata.get("at_least"), getattr(args, f.name)
            if least is not None and value is not None and value < least:
                p.error(f"--{f.name.replace('_', '-')} must be {'at least 1' if least == 1 else f'{least} or more'}")


def parse_args(argv=None) -> argparse.Namespace:
    """The command line -> its options (RunOptions' fields); `.config` is the TrainConfig they ask for,
    resolved, and `.argv` the arguments as given (for the report and --resume)."""
    p = parser()
    args = p.parse_args(argv)
    check_at_least(p, args, RunOptions, TrainConfig, EngineOptions)
    if args.run_id is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", args.run_id):
        p.error(f"--run-id {args.run_id!r}: letters, digits, '.', '_' and '-' only")
    if (args.cluster or args.workers) and args.arch != "lite0":
        p.error("--cluster/--workers: only the lite0 recipe's features run on the engine")
    if args.features and args.arch != "lite0":
        p.error("--features: only the lite0 recipe trains on precomputed features")
    args.argv = list(sys.argv[1:] if argv is None else argv)
    args.config = TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}).resolved()
    return args


def config_from_argv(argv) -> TrainConfig:
    """The TrainConfig of `python -m train ARGV` (benchmark variants are written as command-line flags)."""
    return parse_args(list(argv)).config


def crops_per_image(config: TrainConfig, n_train: int) -> int:
    """Random crops per training picture per epoch: as asked, else enough for about VIEWS_PER_EPOCH
    crops an epoch (few pictures: many crops each, since decoding is the cost and crops are cheap)."""
    if config.crops_per_image:
        return config.crops_per_image
    return int(min(32, max(2, math.ceil(VIEWS_PER_EPOCH / max(n_train, 1)))))


def epochs_for(config: TrainConfig, n_train: int) -> int:
    """Most epochs: as asked, else EPOCHS_FEW for a small training set (its pictures come round often,
    with fresh crops and augmentation each time) and EPOCHS_MANY for a large one (each epoch already varied)."""
    if config.epochs:
        return config.epochs
    return EPOCHS_FEW if n_train < MANY_PICTURES else EPOCHS_MANY


def pick_positive(class_names, wanted):
    """The index of the positive class: two classes only, the second unless one is named."""
    if len(class_names) != 2:
        if wanted:
            raise DataError(f"--positive-class {wanted}: only meaningful with two classes")
        return None
    if wanted is None:
        return 1
    if wanted not in class_names:
        raise DataError(f"--positive-class {wanted}: not one of the classes {class_names}")
    return class_names.index(wanted)


def make_spec(config: TrainConfig, class_names) -> tuple[Spec, int | None]:
    """The run's preprocessing spec from the config and the architecture's view; and the index of the
    positive class (two classes) or None."""
    config = config.resolved()
    arch = ARCHS[config.arch]
    positive = pick_positive(class_names, config.positive_class)
    input_size = config.image_size
    # Too small to judge: smaller than a crop (crops view), else what the architecture says.
    min_side = input_size if arch.view == "crops" else arch.min_side
    spec = Spec(class_names=tuple(class_names), input_size=input_size, view=arch.view,
                max_side=config.max_side, grid=config.grid, min_side=min_side,
                positive_class=class_names[positive] if positive is not None else None,
                threshold=0.5 if positive is not None else None)
    return spec, positive
