"""The image -> SMPL regressor (HMR / SPIN) and its checkpoints.

from eft_jax import nets
nets.convert_spin_checkpoint("model_checkpoint.pt", "spin_regressor/")   # torch not needed
regressor, variables, record = nets.restore_regressor("spin_regressor/")
loaded = nets.load_regressor(None, body_model)  # None: the bundled regressor; checks the body
out = regressor.apply(variables, images)       # out.rotmats (B,24,3,3), out.betas, out.camera
trainable, frozen = nets.partition(variables["params"], "layer4+head")
"""

from eft_jax.nets.checkpoint import (
    BUNDLED_REGRESSOR_DIR,
    RegressorCheckpointError,
    RestoredRegressor,
    bundled_regressor,
    predicted_body_kind,
    read_config_record,
    restore_regressor,
    save_regressor,
    trained_crop_size,
    update_config_record,
)
from eft_jax.nets.hmr import Regressor, RegressorArch, RegressorOutput, predictor, program_key_of
from eft_jax.nets.loading import LoadedRegressor, load_regressor, regressor_record
from eft_jax.nets.mean_params import (
    MeanParams,
    bundled_mean_params,
    load_mean_params,
    open_body_mean_params,
)
from eft_jax.nets.param_groups import (
    GROUPS,
    PRESETS,
    entry_point,
    merge,
    partition,
    resolve_groups,
    select_params,
)
from eft_jax.nets.resnet import ResNetArch
from eft_jax.nets.spin_import import ConversionReport, SpinImportError, convert_spin_checkpoint
from eft_jax.nets.torch_checkpoint import (
    TorchCheckpoint,
    TorchCheckpointError,
    read_torch_checkpoint,
)

__all__ = [
    "BUNDLED_REGRESSOR_DIR",
    "GROUPS",
    "PRESETS",
    "ConversionReport",
    "LoadedRegressor",
    "MeanParams",
    "Regressor",
    "RegressorArch",
    "RegressorCheckpointError",
    "RegressorOutput",
    "ResNetArch",
    "RestoredRegressor",
    "SpinImportError",
    "TorchCheckpoint",
    "TorchCheckpointError",
    "bundled_mean_params",
    "bundled_regressor",
    "convert_spin_checkpoint",
    "entry_point",
    "trained_crop_size",
    "load_mean_params",
    "load_regressor",
    "merge",
    "open_body_mean_params",
    "partition",
    "predicted_body_kind",
    "predictor",
    "program_key_of",
    "read_config_record",
    "read_torch_checkpoint",
    "regressor_record",
    "resolve_groups",
    "restore_regressor",
    "save_regressor",
    "select_params",
    "update_config_record",
]
