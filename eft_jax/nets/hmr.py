"""The HMR / SPIN regressor: ResNet features -> SMPL pose (6D), betas and weak-perspective camera
by iterative error feedback from mean parameters.

    regressor = Regressor(RegressorArch(), load_mean_params("smpl_mean_params.npz"))
    variables = regressor.init(jax.random.key(0))          # {'params', 'batch_stats'}
    out = regressor.apply(variables, images)                # images: (B, H, W, 3), normalised
    out.rotmats, out.pose6d, out.betas, out.camera, out.features

As in SPIN, each of the `iterations` rounds concatenates the pooled features with the current
estimate (144 + 10 + 3 values), passes them through fc1 -> dropout -> fc2 -> dropout (no
nonlinearity in between, as in SPIN) and adds the outputs of three linear decoders (decpose,
decshape, deccam) to the estimate. Module names are SPIN's, so `params` has the top-level keys
conv1, bn1, layer1..layer4, fc1, fc2, decpose, decshape, deccam (see `param_groups`).

Images are NHWC, RGB, normalised with ImageNet mean and std (docs/ARCHITECTURE.md §4). `apply` with
`train=False` uses BatchNorm running statistics and no dropout, and is a pure function of
(variables, images): it composes with `jit`, `grad` and `vmap` over parameter copies.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Hashable
from typing import Any

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp

from eft_jax.geometry.rotations import rot6d_to_rotmat
from eft_jax.nets.mean_params import (
    CAM_DIM,
    NUM_BETAS,
    NUM_JOINTS,
    POSE_DIM,
    MeanParams,
    bundled_mean_params,
)
from eft_jax.nets.resnet import ResNetArch, resnet_features

DEFAULT_CROP_SIZE = 224


@dataclasses.dataclass(frozen=True)
class RegressorArch:
    backbone: ResNetArch = dataclasses.field(default_factory=ResNetArch)
    head_width: int = 1024
    iterations: int = 3
    dropout_rate: float = 0.5

    @classmethod
    def reduced(cls, depth: int = 50, width_divisor: int = 1) -> RegressorArch:
        """Backbone and head widths divided by `width_divisor` (the test fixtures use 8 and 16)."""
        return cls(ResNetArch.reduced(depth, width_divisor), head_width=1024 // width_divisor)

    def to_record(self) -> dict:
        return {
            "depth": self.backbone.depth,
            "stem_width": self.backbone.stem_width,
            "stage_widths": list(self.backbone.stage_widths),
            "head_width": self.head_width,
            "iterations": self.iterations,
            "dropout_rate": self.dropout_rate,
        }

    @classmethod
    def from_record(cls, record: dict) -> RegressorArch:
        backbone = ResNetArch(record["depth"], record["stem_width"], tuple(record["stage_widths"]))
        return cls(backbone, record["head_width"], record["iterations"], record["dropout_rate"])


@flax.struct.dataclass
class RegressorOutput:
    rotmats: jax.Array  # (B, 24, 3, 3)
    pose6d: jax.Array  # (B, 144)
    betas: jax.Array  # (B, 10)
    camera: jax.Array  # (B, 3) weak perspective [s, tx, ty]
    features: jax.Array  # (B, feature_width) pooled backbone features


def torch_linear(
    features: int, fan_in: int, name: str, weight_gain: float | None = None, dtype: Any = None
) -> nn.Dense:
    """nn.Dense initialised like torch's nn.Linear (uniform +-1/sqrt(fan_in) for weight and bias);
    with `weight_gain`, the weight is xavier-uniform with that gain instead (SPIN's decoders)."""
    bound = 1.0 / math.sqrt(fan_in)
    if weight_gain is None:
        kernel_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")
    else:
        kernel_init = nn.initializers.variance_scaling(weight_gain**2, "fan_avg", "uniform")

    def bias_init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return nn.Dense(features, kernel_init=kernel_init, bias_init=bias_init, name=name, dtype=dtype)


class HMR(nn.Module):
    arch: RegressorArch
    # Mean parameters as tuples of floats: module fields stay hashable.
    init_pose: tuple[float, ...]
    init_shape: tuple[float, ...]
    init_cam: tuple[float, ...]
    dtype: Any = None  # computation dtype of convolutions and matmuls (weights stay float32)

    @nn.compact
    def __call__(self, images, train: bool = False, start: str = "image", stop: str | None = None):
        """images -> RegressorOutput. With `start` / `stop` (resnet.ENTRY_POINTS): `images` is
        the activation entering `start`, and with `stop` the activation entering `stop` is
        returned instead of the output (frozen-prefix caching)."""
        features = resnet_features(
            self.arch.backbone, images, train, start, stop or "features", self.dtype
        )
        if stop is not None:
            return features
        batch = images.shape[0]
        state_width = POSE_DIM + NUM_BETAS + CAM_DIM
        width = self.arch.head_width
        fc1 = torch_linear(width, features.shape[-1] + state_width, "fc1", dtype=self.dtype)
        fc2 = torch_linear(width, width, "fc2", dtype=self.dtype)
        decpose = torch_linear(POSE_DIM, width, "decpose", weight_gain=0.01, dtype=self.dtype)
        decshape = torch_linear(NUM_BETAS, width, "decshape", weight_gain=0.01, dtype=self.dtype)
        deccam = torch_linear(CAM_DIM, width, "deccam", weight_gain=0.01, dtype=self.dtype)
        drop1 = nn.Dropout(self.arch.dropout_rate, deterministic=not train)
        drop2 = nn.Dropout(self.arch.dropout_rate, deterministic=not train)

        def start(values):
            return jnp.broadcast_to(jnp.asarray(values, features.dtype), (batch, len(values)))

        pose, shape, cam = start(self.init_pose), start(self.init_shape), start(self.init_cam)
        for _ in range(self.arch.iterations):
            x = jnp.concatenate([features, pose, shape, cam], axis=-1)
            x = drop2(fc2(drop1(fc1(x))))
            pose = pose + decpose(x).astype(pose.dtype)
            shape = shape + decshape(x).astype(shape.dtype)
            cam = cam + deccam(x).astype(cam.dtype)
        rotmats = rot6d_to_rotmat(pose.reshape(batch, NUM_JOINTS, 6))
        return RegressorOutput(
            rotmats=rotmats, pose6d=pose, betas=shape, camera=cam, features=features
        )


class Regressor:
    """An architecture and its mean parameters; `init` and `apply` are pure functions of their
    arguments (the object holds no weights)."""

    def __init__(
        self,
        arch: RegressorArch | None = None,
        mean_params: MeanParams | None = None,
        dtype: Any = None,
    ):
        """Default: SPIN's ResNet-50 regressor, started from the bundled open model's mean.

        dtype: computation dtype of the convolutions and matrix products (e.g. jnp.bfloat16 on
        accelerators); weights, BatchNorm and the outputs stay float32. None: float32."""
        self.arch = RegressorArch() if arch is None else arch
        self.mean_params = bundled_mean_params() if mean_params is None else mean_params
        self.dtype = dtype
        self.module = HMR(
            self.arch,
            tuple(float(v) for v in self.mean_params.pose),
            tuple(float(v) for v in self.mean_params.shape),
            tuple(float(v) for v in self.mean_params.cam),
            dtype,
        )

    def with_dtype(self, dtype: Any) -> Regressor:
        """The same regressor computing its convolutions and matmuls in `dtype` (same variables)."""
        return Regressor(self.arch, self.mean_params, dtype)

    def __repr__(self) -> str:
        return f"Regressor({self.arch})"

    def program_key(self) -> Hashable:
        """Equal for regressors that compute the same function of equal variables (the flax
        module holds the architecture, mean parameters and dtype): programs built around them
        may be shared (`fitting.EftEngine`)."""
        return self.module

    def init(self, rng: jax.Array, crop_size: int = DEFAULT_CROP_SIZE) -> dict:
        """Fresh {'params', 'batch_stats'} initialised as SPIN does before ImageNet weights."""
        images = jnp.zeros((1, crop_size, crop_size, 3), jnp.float32)
        return dict(jax.jit(self.module.init)(rng, images))

    def abstract_variables(self, crop_size: int = DEFAULT_CROP_SIZE) -> dict:
        """Shapes and dtypes of the variables, computed without allocating them."""
        images = jax.ShapeDtypeStruct((1, crop_size, crop_size, 3), jnp.float32)
        return dict(jax.eval_shape(self.module.init, jax.random.key(0), images))

    def apply(
        self,
        variables: dict,
        images: jax.Array,
        train: bool = False,
        rng: jax.Array | None = None,
        start: str = "image",
    ):
        """Regress SMPL parameters from normalised NHWC images (or, with `start`, from the
        activation entering that point of the network, as `prefix` computes it).

        train=False: BatchNorm running statistics, no dropout; returns a RegressorOutput.
        train=True: batch statistics and dropout (needs `rng`); returns (RegressorOutput, updated
        batch_stats), the running statistics moved as torch's momentum 0.1 would.
        """
        if start == "image" and (images.ndim != 4 or images.shape[-1] != 3):
            raise ValueError(
                f"images must be (batch, height, width, 3) NHWC RGB, got shape {images.shape}"
            )
        variables = {"params": variables["params"], "batch_stats": variables["batch_stats"]}
        if not train:
            return self.module.apply(variables, images, train=False, start=start)
        if start != "image":
            raise ValueError("apply(train=True) runs from the image only")
        if rng is None and self.arch.dropout_rate > 0:
            raise ValueError("apply(train=True) needs an rng for dropout")
        rngs = {} if rng is None else {"dropout": rng}
        out, updates = self.module.apply(
            variables, images, train=True, rngs=rngs, mutable=["batch_stats"]
        )
        return out, updates["batch_stats"]

    def prefix(self, variables: dict, images: jax.Array, stop: str) -> jax.Array:
        """The activation entering `stop` (resnet.ENTRY_POINTS) in eval mode: what
        `apply(..., start=stop)` continues from. Reads only the parameters before `stop`."""
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(
                f"images must be (batch, height, width, 3) NHWC RGB, got shape {images.shape}"
            )
        variables = {"params": variables["params"], "batch_stats": variables["batch_stats"]}
        return self.module.apply(variables, images, train=False, stop=stop)

    def config_record(self) -> dict:
        """What `checkpoint.save_regressor` stores to rebuild this regressor."""
        return {"arch": self.arch.to_record(), "mean_params": self.mean_params.to_record()}

    @classmethod
    def from_config_record(cls, record: dict) -> Regressor:
        return cls(
            RegressorArch.from_record(record["arch"]), MeanParams.from_record(record["mean_params"])
        )


def predictor(regressor, variables: dict) -> Callable:
    """images -> RegressorOutput (eval mode) of any regressor with `apply`, jitted with the weights
    as an argument rather than constants compiled into the program (a ResNet-50's 100 MB would be
    folded into it, and into the compilation cache: its first call takes 2.4 s instead of 1.4 s)."""
    apply = jax.jit(lambda weights, images: regressor.apply(weights, images, train=False))
    return functools.partial(apply, variables)


def program_key_of(regressor) -> Hashable | None:
    """`regressor`'s `program_key()` when its own class defines one, else None (never shared):
    looked up on the class, so a wrapper that forwards attributes never passes on the key of the
    regressor it wraps."""
    method = getattr(type(regressor), "program_key", None)
    return None if method is None else method(regressor)
