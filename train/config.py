"""TrainConfig: what one training run is asked to do, whoever asks (`python -m train`, the benchmarks)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .evaluate import SOURCE_PATTERN


@dataclass(frozen=True)
class TrainConfig:
    arch: str = "lite0"
    epochs: int | None = None  # most epochs; None: 16 below 1000 training pictures, else 8
    patience: int = 6  # epochs without val-loss improvement before stopping
    batch_size: int = 32  # views per training batch
    image_size: int | None = None  # None: the architecture's (model.ARCHS)
    grid: int = 4  # crops view: grid x grid crops voted inside the model
    max_side: int | None = None  # crops and picture views; None: the architecture's
    copies: int = 0  # lite0: augmented copies of each training picture for the head
    crops_per_image: int | None = None  # crops view: random crops per picture per epoch; None: automatic
    learning_rate: float = 1e-3
    seed: int = 0
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)  # train / val / test shares
    group_pattern: str | None = None  # None: data.auto_group; "none": every picture alone
    source_pattern: str = SOURCE_PATTERN
    slices: dict[str, str] = field(default_factory=dict)  # name -> regex, scored apart in metrics.json
    positive_class: str | None = None  # two classes: the class ROC and the threshold are about
    quantize: str | None = None  # the served TF.js bundle's weights; None: the architecture's
    augment: bool = True

    def resolved(self) -> TrainConfig:
        """The same with the architecture's defaults filled in where a field is None."""
        from .model import ARCHS

        if self.arch not in ARCHS:
            raise ValueError(f"unknown architecture {self.arch!r} (choose from {', '.join(ARCHS)})")
        arch = ARCHS[self.arch]
        return dataclasses.replace(self, image_size=self.image_size or arch["input_size"],
                                   max_side=self.max_side or arch.get("max_side", 512),
                                   quantize=self.quantize or arch.get("quantize", "float16"))

    def to_json(self) -> dict:
        return dataclasses.asdict(self)
