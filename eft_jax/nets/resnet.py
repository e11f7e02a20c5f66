"""ResNet backbones (18/34/50/101/152) in flax.linen, NHWC, laid out like torchvision's.

Every module carries the name of its torchvision (and SPIN) counterpart, so a torch state-dict
key maps onto the flax tree by splitting at the dots: `layer2.0.downsample.1.running_mean` is
`batch_stats['layer2']['0']['downsample']['1']['mean']`. Only the leaf names differ (conv and
linear `weight` -> `kernel`, batch-norm `weight` -> `scale`, `running_mean/var` -> `mean/var`).

Blocks are torchvision's "v1.5": a bottleneck's stride sits on its 3x3 convolution. Channel
widths are explicit so that reduced-width networks read from a checkpoint run unchanged.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import flax.linen as nn
import jax.numpy as jnp

from eft_jax.nets.max_pool import max_pool_3x3_stride2

# Blocks per stage and block type of the standard depths.
DEPTHS: dict[int, tuple[Literal["basic", "bottleneck"], tuple[int, int, int, int]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
STANDARD_STEM_WIDTH = 64
STANDARD_STAGE_WIDTHS = (64, 128, 256, 512)

# torchvision / SPIN initialisation: convolutions He-normal over fan-out, untruncated.
conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


@dataclasses.dataclass(frozen=True)
class ResNetArch:
    """Depth and channel widths; `stage_widths` are the "planes" of torchvision's `_make_layer`
    (a bottleneck stage outputs 4x its planes)."""

    depth: int = 50
    stem_width: int = STANDARD_STEM_WIDTH
    stage_widths: tuple[int, int, int, int] = STANDARD_STAGE_WIDTHS

    def __post_init__(self):
        if self.depth not in DEPTHS:
            raise ValueError(f"unsupported ResNet depth {self.depth}; supported: {sorted(DEPTHS)}")
        object.__setattr__(self, "stage_widths", tuple(int(w) for w in self.stage_widths))
        if len(self.stage_widths) != 4:
            raise ValueError(f"stage_widths needs 4 entries, got {self.stage_widths}")

    @property
    def block(self) -> str:
        return DEPTHS[self.depth][0]

    @property
    def blocks_per_stage(self) -> tuple[int, int, int, int]:
        return DEPTHS[self.depth][1]

    @property
    def expansion(self) -> int:
        return 4 if self.block == "bottleneck" else 1

    @property
    def feature_width(self) -> int:
        return self.stage_widths[-1] * self.expansion

    @classmethod
    def reduced(cls, depth: int, width_divisor: int) -> ResNetArch:
        return cls(
            depth=depth,
            stem_width=STANDARD_STEM_WIDTH // width_divisor,
            stage_widths=tuple(w // width_divisor for w in STANDARD_STAGE_WIDTHS),
        )


def batch_norm(train: bool, name: str) -> nn.BatchNorm:
    # torch's BatchNorm2d: eps 1e-5, running = 0.9 running + 0.1 batch.
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name=name)


def conv(features: int, kernel: int, stride: int, name: str, dtype: Any = None) -> nn.Conv:
    """torch's Conv2d(bias=False); `dtype` is the computation dtype (weights stay float32)."""
    pad = (kernel - 1) // 2
    return nn.Conv(
        features,
        (kernel, kernel),
        strides=(stride, stride),
        padding=((pad, pad), (pad, pad)),
        use_bias=False,
        kernel_init=conv_init,
        dtype=dtype,
        name=name,
    )


class Downsample(nn.Module):
    """torchvision's `downsample = Sequential(conv1x1, BatchNorm)`, children named "0" and "1"."""

    features: int
    stride: int
    dtype: Any = None

    @nn.compact
    def __call__(self, x, train: bool):
        x = conv(self.features, 1, self.stride, "0", self.dtype)(x)
        return batch_norm(train, "1")(x)


class BasicBlock(nn.Module):
    planes: int
    stride: int = 1
    dtype: Any = None

    @nn.compact
    def __call__(self, x, train: bool):
        out = nn.relu(
            batch_norm(train, "bn1")(conv(self.planes, 3, self.stride, "conv1", self.dtype)(x))
        )
        out = batch_norm(train, "bn2")(conv(self.planes, 3, 1, "conv2", self.dtype)(out))
        if self.stride != 1 or x.shape[-1] != self.planes:
            x = Downsample(self.planes, self.stride, self.dtype, name="downsample")(x, train)
        return nn.relu(out + x)


class Bottleneck(nn.Module):
    planes: int
    stride: int = 1
    dtype: Any = None

    @nn.compact
    def __call__(self, x, train: bool):
        out = nn.relu(batch_norm(train, "bn1")(conv(self.planes, 1, 1, "conv1", self.dtype)(x)))
        out = nn.relu(
            batch_norm(train, "bn2")(conv(self.planes, 3, self.stride, "conv2", self.dtype)(out))
        )
        out = batch_norm(train, "bn3")(conv(4 * self.planes, 1, 1, "conv3", self.dtype)(out))
        if self.stride != 1 or x.shape[-1] != 4 * self.planes:
            x = Downsample(4 * self.planes, self.stride, self.dtype, name="downsample")(x, train)
        return nn.relu(out + x)


class ResNetStage(nn.Module):
    """torchvision's `layerN`: a Sequential of blocks named "0", "1", ..."""

    block: str
    planes: int
    blocks: int
    stride: int
    dtype: Any = None

    @nn.compact
    def __call__(self, x, train: bool):
        block_cls = Bottleneck if self.block == "bottleneck" else BasicBlock
        for index in range(self.blocks):
            x = block_cls(
                self.planes, self.stride if index == 0 else 1, self.dtype, name=str(index)
            )(x, train)
        return x


# Where an activation enters the backbone: the image, the input of each stage, or the pooled
# features (what the head reads). Frozen-prefix caching starts the network at one of these.
ENTRY_POINTS = ("image", "layer1", "layer2", "layer3", "layer4", "features")


def resnet_features(
    arch: ResNetArch,
    x,
    train: bool,
    start: str = "image",
    stop: str = "features",
    dtype: Any = None,
):
    """The backbone, built inline in the calling compact module (names conv1 ... layer4 land at
    the caller's top level, as in SPIN's state dict). Returns globally average-pooled features.

    `start` / `stop` (ENTRY_POINTS) run only the part between two entry points: `x` is the
    activation entering `start`, and the activation entering `stop` is returned (e.g. start
    "image", stop "layer4": the output of layer3; start "layer4": layer4 and the pooling).

    SPIN pools with AvgPool2d(7), which is the global average at its 224x224 input; the global
    average is what generalises to other input sizes. `dtype`: the convolutions' computation
    dtype (None: that of the inputs and weights); BatchNorm and the pooling compute in at least
    float32.
    """
    first, last = ENTRY_POINTS.index(start), ENTRY_POINTS.index(stop)
    if first > last:
        raise ValueError(f"cannot run the backbone from {start!r} to {stop!r}")
    if first == 0 and last > 0:
        x = conv(arch.stem_width, 7, 2, "conv1", dtype)(x)
        x = nn.relu(batch_norm(train, "bn1")(x))
        x = max_pool_3x3_stride2(x)
    for stage, (planes, blocks) in enumerate(zip(arch.stage_widths, arch.blocks_per_stage)):
        if first <= stage + 1 < last:
            stride = 1 if stage == 0 else 2
            x = ResNetStage(arch.block, planes, blocks, stride, dtype, name=f"layer{stage + 1}")(
                x, train
            )
    if first < 5 == last:
        # A reduced-precision run (bfloat16) pools in float32; a float64 run stays float64.
        x = jnp.mean(x.astype(jnp.promote_types(x.dtype, jnp.float32)), axis=(1, 2))
    return x
