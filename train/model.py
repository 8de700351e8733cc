"""The networks. Every model takes raw 0-255 RGB at the spec's input size and scales it itself, and
holds no augmentation layer, so the saved and exported model is inference-only."""
from __future__ import annotations

import keras
import numpy as np
from keras import layers

# Which view each architecture is made for, and its default input size (see preprocess.py).
ARCHS = {
    "tracenet": {"view": "crops", "input_size": 64,
                 "about": "compact CNN on the noise residual (fixed high-pass first layer) of native-resolution "
                          "crops, votes over a grid of crops (default)"},
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


# tracenet's first stage is a fixed high-pass, on each colour channel: the second difference across
# (1, -2, 1), down (its transpose), and both (the 3x3 "KB" kernel (-1 2 -1; 2 -4 2; -1 2 -1) of the SRM
# residual family, Fridrich & Kodovsky 2012). It removes the content (smooth shading, colour) and keeps
# what differs between a camera and a renderer: sensor noise, demosaicing and sharpening patterns,
# compression residue, too-clean gradients and edges.
#
# It is a non-trainable depthwise convolution whose kernel holds small integers, then one scalar
# scaling. The integers are chosen (5x the second differences, 1x KB: values -10..5, a range of 15,
# which divides 255) so that the TF.js converter's uint8 weight quantization (per tensor: scale =
# range / 255, zero exact) represents every one of them exactly, as float16 does too. That matters:
# a high-pass kernel that no longer sums to exactly zero leaks the 0-255 picture into the residual.
HIGHPASS_TAPS = (
    ((0, 0, 0), (5, -10, 5), (0, 0, 0)),  # across
    ((0, 5, 0), (0, -10, 0), (0, 5, 0)),  # down
    ((-1, 2, -1), (2, -4, 2), (-1, 2, -1)),  # both (KB)
)
HIGHPASS_SCALE = 1 / 32  # residuals in pixel levels -> about unit range


def highpass_kernel() -> np.ndarray:
    """Depthwise kernel [3, 3, 3 colour channels, 3 filters]: every filter on every channel."""
    k = np.stack([np.array(t, np.float32) for t in HIGHPASS_TAPS], axis=-1)
    return np.repeat(k[:, :, None, :], 3, axis=2)


def highpass(inputs):
    """[N, H, W, 3] 0-255 -> [N, H-2, W-2, 9] noise residuals; no padding, so crop borders add no
    false edges."""
    kernel = highpass_kernel()
    x = layers.DepthwiseConv2D(3, depth_multiplier=kernel.shape[-1], padding="valid", use_bias=False,
                               depthwise_initializer=keras.initializers.Constant(kernel.tolist()),
                               trainable=False, name="highpass")(inputs)
    return layers.Rescaling(HIGHPASS_SCALE, name="highpass_scaled")(x)


def tracenet(input_size: int, num_classes: int) -> keras.Model:
    """Small CNN for camera/rendering traces. A fixed high-pass stage (`highpass`) turns the crop into
    its noise residuals; the first trainable layers run
    at full resolution (noise, demosaicing and edge statistics live in neighbouring pixels), then strided
    blocks and global pooling so the answer does not depend on where in the crop the content is."""
    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = highpass(inputs)
    for filters, stride in ((16, 1), (24, 2), (32, 1), (48, 2), (64, 1), (96, 2)):
        x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="tracenet")
