"""The networks. Every model takes raw 0-255 RGB at the spec's input size and scales it itself, and
holds no augmentation layer, so the saved and exported model is inference-only."""
from __future__ import annotations

import keras
import numpy as np
from keras import layers

from .config import ARCHS  # each architecture's view and sizes


class EpochCheckpoint(keras.callbacks.Callback):
    """The weights after every epoch (and how many epochs are done), so a stopped run resumes there."""

    def __init__(self, weights_path, state_path, initial_epoch: int = 0):
        super().__init__()
        self.weights_path, self.state_path, self.done = weights_path, state_path, initial_epoch

    def on_epoch_end(self, epoch, logs=None):
        import json
        import os

        tmp = self.weights_path.with_name(f".{self.weights_path.name}.tmp.weights.h5")
        self.model.save_weights(tmp)
        os.replace(tmp, self.weights_path)
        self.state_path.write_text(json.dumps({"epochs_done": epoch + 1}) + "\n")


def compiled(model: keras.Model):
    """model(x, training=False) as one TensorFlow graph for inputs of any batch and picture size: several
    times faster than calling the Keras model eagerly (one trace, kept on the model)."""
    import tensorflow as tf

    fn = getattr(model, "_compiled_inference", None)
    if fn is None:
        fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True,
                         input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
        model._compiled_inference = fn
    return fn


def build(arch: str, input_size: int, num_classes: int) -> keras.Model:
    """A network trained end to end by Keras (lite0's head is fitted apart: see `lite0_features`)."""
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


@keras.saving.register_keras_serializable(package="render_or_real")
class CropGrid(layers.Layer):
    """Crops view, inside the model: pictures [N, H, W, 3] -> their grid x grid crops
    [N * grid^2, size, size, 3] (train/preprocess.py crop_grid, the one definition of the lattice)."""

    def __init__(self, size: int, grid: int, **kwargs):
        super().__init__(**kwargs)
        self.size, self.grid = int(size), int(grid)

    def call(self, images):
        from .preprocess import crop_grid

        return crop_grid(images, self.size, self.grid)

    def compute_output_shape(self, input_shape):
        return (None, self.size, self.size, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "size": self.size, "grid": self.grid}


@keras.saving.register_keras_serializable(package="render_or_real")
class MeanOverCrops(layers.Layer):
    """The vote: probabilities of N pictures' crops [N * crops, C] -> their mean per picture [N, C]."""

    def __init__(self, crops: int, **kwargs):
        super().__init__(**kwargs)
        self.crops = int(crops)

    def call(self, probs):
        return keras.ops.mean(keras.ops.reshape(probs, (-1, self.crops, probs.shape[-1])), axis=1)

    def compute_output_shape(self, input_shape):
        return (None, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "crops": self.crops}


def picture_model(model: keras.Model, spec) -> keras.Model:
    """The model as every consumer runs it: one normalized picture in (preprocess.model_input), one row
    of probabilities out. Crops view: the crop network behind CropGrid and before MeanOverCrops (its
    layers shared, so calibrating the crop network calibrates this too); other views: the model itself."""
    if spec.view != "crops":
        return model
    pictures = keras.Input((None, None, 3), name="picture")
    crops = CropGrid(spec.input_size, spec.grid, name="crop_grid")(pictures)
    voted = MeanOverCrops(spec.grid * spec.grid, name="vote")(model(crops))
    return keras.Model(pictures, voted, name=f"{model.name}_voted")


REGION_TILES = 3  # the vote map of the views without crops: 3 x 3 tiles of the picture


@keras.saving.register_keras_serializable(package="render_or_real")
class CropBoxes(CropGrid):
    """Pictures [N, H, W, 3] -> the boxes of their CropGrid crops [N, grid^2, 4] (preprocess.crop_boxes)."""

    def call(self, images):
        from .preprocess import crop_boxes

        return crop_boxes(images, self.size, self.grid)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.grid * self.grid, 4)


@keras.saving.register_keras_serializable(package="render_or_real")
class TileGrid(layers.Layer):
    """Pictures [N, H, W, 3] -> (their tiles x tiles tiles [N * tiles^2, h, w, 3], resized to `size` when
    given, and the tiles' boxes [N, tiles^2, 4]) (preprocess.tile_grid)."""

    def __init__(self, tiles: int, size: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.tiles, self.size = int(tiles), size

    def call(self, images):
        import tensorflow as tf

        from .preprocess import tile_grid

        cut, boxes = tile_grid(images, self.tiles)
        if self.size:
            cut = tf.image.resize(cut, [self.size, self.size], method="bilinear", antialias=False)
        return cut, boxes

    def compute_output_shape(self, input_shape):
        return (None, self.size, self.size, input_shape[-1]), (input_shape[0], self.tiles * self.tiles, 4)

    def get_config(self):
        return {**super().get_config(), "tiles": self.tiles, "size": self.size}


def region_bounds(length, regions: int) -> list:
    """Where each of `regions` equal parts of a side starts and ends (at least one row each, so a map
    smaller than the regions still gives every region a value). Python ints or TensorFlow scalars."""
    import tensorflow as tf

    out = []
    for i in range(regions):
        lo = tf.minimum((i * length) // regions, length - 1)
        out.append((lo, tf.maximum(lo + 1, ((i + 1) * length) // regions)))
    return out


class RegionalPooling(layers.Layer):
    """Feature maps [N, h, w, C] -> [N, R*R, width]: `pooled_statistics` over each of R x R equal
    regions of the map, row by row (the vote map of lite0: the head read on each region). Only in the
    page's model (exported_model), never saved as .keras."""

    def __init__(self, regions: int, covariances: bool, **kwargs):
        super().__init__(**kwargs)
        self.regions = int(regions)
        self.covariances = bool(covariances)

    def build(self, input_shape):
        self.pooling = pooling_model(input_shape[-1], self.covariances, f"{self.name}_pooling")

    def call(self, x):
        import tensorflow as tf

        h, w = tf.shape(x)[1], tf.shape(x)[2]
        parts = []
        for r0, r1 in region_bounds(h, self.regions):
            for c0, c1 in region_bounds(w, self.regions):
                parts.append(self.pooling(x[:, r0:r1, c0:c1, :]))
        return tf.stack(parts, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.regions * self.regions, self.pooling.output.shape[-1])


@keras.saving.register_keras_serializable(package="render_or_real")
class RegionBoxes(layers.Layer):
    """Pictures [N, H, W, 3] -> the boxes [N, R*R, 4] (top, left, height, width) of their R x R equal
    regions, in pixels, row by row."""

    def __init__(self, regions: int, **kwargs):
        super().__init__(**kwargs)
        self.regions = int(regions)

    def call(self, images):
        import tensorflow as tf

        r = self.regions
        h, w = tf.cast(tf.shape(images)[1], tf.float32) / r, tf.cast(tf.shape(images)[2], tf.float32) / r
        boxes = tf.stack([tf.stack([i * h, j * w, h, w]) for i in range(r) for j in range(r)])
        return tf.tile(boxes[None], [tf.shape(images)[0], 1, 1])

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.regions * self.regions, 4)

    def get_config(self):
        return {**super().get_config(), "regions": self.regions}


@keras.saving.register_keras_serializable(package="render_or_real")
class PerPicture(layers.Layer):
    """[N * regions, C] -> [N, regions, C]: each picture's rows together."""

    def __init__(self, regions: int, **kwargs):
        super().__init__(**kwargs)
        self.regions = int(regions)

    def call(self, x):
        return keras.ops.reshape(x, (-1, self.regions, x.shape[-1]))

    def compute_output_shape(self, input_shape):
        return (None, self.regions, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "regions": self.regions}


def exported_model(model: keras.Model, spec, feature_stats=None) -> keras.Model:
    """The form of a run's model the page gets: the same picture in, out
    - "probabilities": model.keras's answer;
    - "features": the embedding its last Dense ("probabilities") reads (crops view: averaged over the
      crops like the probabilities), standardized by `feature_stats` (mean, variance) when given, so that
      it says how a picture differs from the run's typical one; the page learns from corrections on it
      (static_site/learn.js);
    - "regions" [N, R, C] and "region_boxes" [N, R, 4] (top, left, height, width in the input's pixels):
      the vote map, computed only when the page asks. Crops view: each crop's own probabilities, where
      the crop is; lite0: its head read on each of REGION_TILES x REGION_TILES regions of its pooled
      feature maps (the same backbone pass); other networks: the model on each of as many tiles.
    model.keras itself keeps the one output."""
    def two_outputs(network):
        return keras.Model(network.inputs, {"probabilities": network.output,
                                            "features": network.get_layer("probabilities").input},
                           name=f"{network.name}_outputs")

    def standardized(features):
        if feature_stats is None:
            return features
        mean, variance = (np.asarray(v, np.float32) for v in feature_stats)
        return layers.Normalization(mean=mean, variance=variance, name="features_standardized")(features)

    pictures = keras.Input((None, None, 3), name="picture")
    if spec.view == "crops":
        crop_network = next(layer for layer in model.layers if isinstance(layer, keras.Model))
        out = two_outputs(crop_network)(CropGrid(spec.input_size, spec.grid, name="crop_grid")(pictures))
        crops = spec.grid * spec.grid
        return keras.Model(pictures, {
            "probabilities": MeanOverCrops(crops, name="vote")(out["probabilities"]),
            "features": standardized(MeanOverCrops(crops, name="vote_features")(out["features"])),
            "regions": PerPicture(crops, name="crop_votes")(out["probabilities"]),
            "region_boxes": CropBoxes(spec.input_size, spec.grid, name="crop_boxes")(pictures)},
            name=f"{model.name}_page")
    pictures = keras.Input(model.input_shape[1:], name="picture")  # whole view: its fixed square
    names = {layer.name for layer in model.layers}
    if all(f"pool_{t}" in names for t in LITE0_TAPS) and f"pool_{LITE0_COVARIANCE_TAPS[0]}_covariance" in names:
        # lite0: each region's answer is the head on that region's pooled feature maps, from the one pass
        # of the backbone (a second call of the network would ship its weights twice). (Runs of an
        # older pooling get the tiles below.)
        inner = keras.Model(model.inputs, [model.get_layer(t).output for t in LITE0_TAPS]
                            + [model.get_layer("features").output], name=f"{model.name}_maps")
        *maps, features = inner(pictures)
        head = model.get_layer("probabilities")
        regional = layers.Concatenate(name="region_features")(
            [RegionalPooling(REGION_TILES, t in LITE0_COVARIANCE_TAPS, name=f"regions_{t}")(m)
             for t, m in zip(LITE0_TAPS, maps)])
        return keras.Model(pictures, {"probabilities": head(features), "features": standardized(features),
                                      "regions": head(regional),
                                      "region_boxes": RegionBoxes(REGION_TILES, name="region_boxes")(pictures)},
                           name=f"{model.name}_page")
    # Other networks (rendernet2017): the model on each tile.
    out = two_outputs(model)(pictures)
    out = {**out, "features": standardized(out["features"])}
    tiles, boxes = TileGrid(REGION_TILES, spec.input_size if spec.view == "whole" else None, name="tiles")(pictures)
    return keras.Model(pictures, {**out, "region_boxes": boxes,
                                  "regions": PerPicture(REGION_TILES ** 2, name="tile_votes")(model(tiles))},
                       name=f"{model.name}_page")


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


# lite0: the feature maps pooled, named as in train/backbone.py, from the stem to the end of the
# stride-32 stage. The mean and the variance over the picture of each channel are pooled at every tap;
# at the end of the stride-8 stage the covariance matrix of its 40 channels instead of the variances
# (its diagonal; a second-order texture statistic, as style transfer's Gram matrices). The early,
# high-resolution taps carry the noise, sharpening and shading statistics that differ between a camera
# and a renderer (Rahmouni 2017, Nguyen 2019); the late ones texture and content. 2 x (32 + 16 + 24 +
# 80 + 112 + 192 + 320) + 40 + 40 x 40 = 3,192 numbers, 780 of them the zeroed lower triangle. Measured
# in benchmarks.sources (leave one source out, 58 sources), against the four late taps' means and
# spreads (1,408 numbers): mean source recall 0.859 -> 0.885, pooled ROC AUC 0.920 -> 0.934.
LITE0_TAPS = ("bn0_relu6", "blocks_0_bn2", "block2_add", "block4_add",
              "block7_add", "block10_add", "block14_add", "blocks_15_bn2")
LITE0_COVARIANCE_TAPS = ("block4_add",)
# Part of every feature key (lite0_head.feature_key): stored features of another pooling are never reused.
LITE0_FEATURES_VERSION = "taps8-cov1"


def pooled_statistics(x, covariances: bool, name: str):
    """A feature map [N, H, W, C] -> [N, 2C]: each channel's mean over the map, then its variance; with
    `covariances` [N, C + C * C]: the means, then the covariance matrix row by row, its lower triangle
    zeroed. Keras's own layers only, so that model.keras opens in plain Keras (safe mode, without this
    repository)."""
    c = x.shape[-1]
    mean = layers.GlobalAveragePooling2D(name=f"{name}_mean")(x)
    if not covariances:
        mean_square = layers.GlobalAveragePooling2D(name=f"{name}_mean_square")(
            layers.Multiply(name=f"{name}_square")([x, x]))
        variance = layers.Subtract(name=f"{name}_variance")(
            [mean_square, layers.Multiply(name=f"{name}_mean_squared")([mean, mean])])
        return layers.Concatenate(name=name)([mean, variance])
    products = layers.Multiply(name=f"{name}_products")(
        [layers.Reshape((-1, c, 1), name=f"{name}_column")(x), layers.Reshape((-1, 1, c), name=f"{name}_row")(x)])
    second = layers.GlobalAveragePooling1D(name=f"{name}_second_moments")(
        layers.Reshape((-1, c * c), name=f"{name}_flat_products")(products))
    mean_products = layers.Reshape((c * c,), name=f"{name}_flat_mean_products")(layers.Multiply(name=f"{name}_mean_products")(
        [layers.Reshape((c, 1), name=f"{name}_mean_column")(mean), layers.Reshape((1, c), name=f"{name}_mean_row")(mean)]))
    covariance = layers.Subtract(name=f"{name}_covariance")([second, mean_products])
    # The matrix is symmetric: its lower triangle is zeroed (a constant 0 the head gives no weight), so
    # that each pair counts once, as a Keras layer with a constant (no slicing layer exists).
    upper = layers.Rescaling(np.triu(np.ones((c, c), np.float32)).ravel().tolist(), name=f"{name}_upper")(covariance)
    return layers.Concatenate(name=name)([mean, upper])


def pooling_model(channels: int, covariances: bool, name: str) -> keras.Model:
    """`pooled_statistics` as a model of its own (no weights), for the vote map's regions."""
    maps = keras.Input((None, None, channels), name=f"{name}_maps")
    return keras.Model(maps, pooled_statistics(maps, covariances, f"{name}_pooled"), name=name)


@keras.saving.register_keras_serializable(package="render_or_real")
class MeanStdPooling(layers.Layer):
    """[N, H, W, C] -> [N, 2C]: each channel's mean and standard deviation. Only so that runs made
    before the pooling was built of Keras's own layers still load (their model.keras names this layer);
    their vote maps are drawn from tiles."""

    def call(self, x):
        mean = keras.ops.mean(x, axis=(1, 2))
        var = keras.ops.mean(keras.ops.square(x), axis=(1, 2)) - keras.ops.square(mean)
        return keras.ops.concatenate([mean, keras.ops.sqrt(keras.ops.maximum(var, 1e-12))], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2 * input_shape[-1])


def lite0_features(weights=None) -> keras.Model:
    """Pictures of any size (raw 0-255 RGB [N, H, W, 3]) -> pooled features [N, 3192] of the frozen
    ImageNet EfficientNet-Lite0, cut after its last tapped block (its head and classifier unused)."""
    from .backbone import lite0

    backbone = lite0(weights)
    pooled = [pooled_statistics(backbone.get_layer(t).output, t in LITE0_COVARIANCE_TAPS, f"pool_{t}")
              for t in LITE0_TAPS]
    features = layers.Concatenate(name="features")(pooled)
    model = keras.Model(backbone.input, features, name="lite0_features")
    model.trainable = False
    return model


def with_linear_head(features: keras.Model, kernel: np.ndarray, bias: np.ndarray) -> keras.Model:
    """features -> softmax(features @ kernel + bias): the whole classifier as one Keras model."""
    head = layers.Dense(kernel.shape[1], activation="softmax", name="probabilities")
    outputs = head(features.output)
    head.set_weights([np.asarray(kernel, np.float32), np.asarray(bias, np.float32)])
    return keras.Model(features.input, outputs, name="lite0")
