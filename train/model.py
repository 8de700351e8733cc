"""The networks. Every model takes raw 0-255 RGB at the spec's input size and scales it itself, and
holds no augmentation layer, so the saved and exported model is inference-only."""
from __future__ import annotations

import keras
from keras import layers

# Which view each architecture is made for, and its default input size (see preprocess.py).
ARCHS = {
    "tracenet": {"view": "crops", "input_size": 64,
                 "about": "compact CNN on native-resolution crops, votes over a grid of crops (default)"},
    "rendernet2017": {"view": "whole", "input_size": 200,
                      "about": "re-creation of the 2017 experiment: whole picture shrunk to 200x200"},
}


def build(arch: str, input_size: int, num_classes: int) -> keras.Model:
    if arch == "tracenet":
        return tracenet(input_size, num_classes)
    if arch == "rendernet2017":
        return rendernet2017(input_size, num_classes)
    raise ValueError(f"unknown architecture {arch!r} (choose from {', '.join(ARCHS)})")


def rendernet2017(input_size: int, num_classes: int) -> keras.Model:
    """The original experiment's network, layer for layer."""
    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = layers.Rescaling(1 / 255.0)(inputs)
    x = layers.Conv2D(32, 4, strides=4)(x)
    x = layers.Activation("relu")(x)
    x = layers.Conv2D(32, 4, strides=4)(x)
    x = layers.Activation("relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Dropout(0.25)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128)(x)
    x = layers.Activation("relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="rendernet2017")


def tracenet(input_size: int, num_classes: int) -> keras.Model:
    """Small CNN for camera/rendering traces: the first layers run at full resolution (noise, demosaicing
    and edge statistics live in neighbouring pixels), then strided blocks and global pooling so the
    answer does not depend on where in the crop the content is."""
    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)
    for filters, stride in ((16, 1), (24, 2), (32, 1), (48, 2), (64, 1), (96, 2)):
        x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="tracenet")
