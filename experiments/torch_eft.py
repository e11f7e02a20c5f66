"""EFT's step in PyTorch, for side-by-side timing (experiments only; torch is optional).

Written after EFT's public code (facebookresearch/eft at c8400a6): `EFTFitter.run_eft_step`
(eft/train/eftFitter.py 212-348), `exemplerTrainingMode` (191-206: BatchNorm and dropout in eval
mode, BatchNorm weights frozen), the per-exemplar loop (1543-1589: reload the weights, then
forward, loss, zero_grad, backward, Adam step, read the keypoint loss, stop under the threshold)
and the optimiser (59-63: torch.optim.Adam over the model's parameters, lr 5e-6). The network is
the SPIN-layout HMR of tests/make_regressor_goldens.py; the body model is linear blend skinning
of the same `eft_jax.body.BodyModel` arrays eft-jax uses (smplx's `lbs` steps), so both sides
pose the same body. Weights come from eft-jax's variables, so both sides start identical.

    loop = TorchEft.from_jax(regressor, variables, body_model, trainable="all", threads=2)
    loop.fit(image_nhwc, keypoints49x3, iters=20)        # one exemplar, EFT's loop
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from make_regressor_goldens import HMR, BasicBlock, Bottleneck  # noqa: E402

from eft_jax.body import joint_sets  # noqa: E402
from eft_jax.fitting.losses import LossSettings  # noqa: E402
from eft_jax.nets import GROUPS, resolve_groups  # noqa: E402

_LEAF_NAMES = {
    "kernel": "weight",
    "scale": "weight",
    "bias": "bias",
    "mean": "running_mean",
    "var": "running_var",
}


def torch_state_dict(variables: dict) -> dict:
    """eft-jax regressor variables -> SPIN-layout state dict (the inverse of spin_import)."""
    state = {}

    def visit(node, path):
        for key, value in node.items():
            if isinstance(value, dict):
                visit(value, path + [key])
                continue
            array = np.array(value, np.float32)
            if key == "kernel" and array.ndim == 4:  # HWIO -> OIHW
                array = array.transpose(3, 2, 0, 1)
            elif key == "kernel":  # (in, out) -> (out, in)
                array = array.T
            state[".".join(path + [_LEAF_NAMES[key]])] = torch.from_numpy(
                np.ascontiguousarray(array)
            )

    visit(dict(variables["params"]), [])
    visit(dict(variables["batch_stats"]), [])
    return state


class TorchBody(torch.nn.Module):
    """LBS of a BodyModel (smplx's lbs: shape blend, rest joints, pose blend, chain, skinning),
    returning SPIN-49 joints as eft-jax's `body.forward(...).spin49`."""

    def __init__(self, model):
        super().__init__()

        def buffer(name, value):
            self.register_buffer(
                name, None if value is None else torch.from_numpy(np.asarray(value, np.float32))
            )

        buffer("v_template", model.v_template)
        buffer("shapedirs", model.shapedirs)
        buffer(
            "posedirs",
            None if model.posedirs is None else np.asarray(model.posedirs).reshape(-1, 207).T,
        )
        buffer("J_regressor", model.J_regressor)
        buffer("weights", model.weights)
        buffer("J_regressor_extra", model.J_regressor_extra)
        self.register_buffer(
            "keypoint_ids", torch.from_numpy(np.asarray(model.vertex_keypoint_ids, np.int64))
        )
        self.register_buffer(
            "spin49_source", torch.from_numpy(joint_sets.SPIN49_SOURCE.astype(np.int64))
        )
        self.parents = list(model.parents)

    def forward(self, rotmats, betas):  # (N, 24, 3, 3), (N, S)
        n = rotmats.shape[0]
        v_shaped = self.v_template + torch.einsum("vcs,ns->nvc", self.shapedirs, betas)
        joints = torch.einsum("jv,nvc->njc", self.J_regressor, v_shaped)
        v_posed = v_shaped
        if self.posedirs is not None:
            feature = (rotmats[:, 1:] - torch.eye(3)).reshape(n, -1)
            v_posed = v_posed + (feature @ self.posedirs).view(n, -1, 3)
        rel = joints.clone()
        rel[:, 1:] = joints[:, 1:] - joints[:, self.parents[1:]]
        local = torch.cat(
            [F.pad(rotmats, [0, 0, 0, 1]), F.pad(rel.unsqueeze(-1), [0, 0, 0, 1], value=1.0)], dim=3
        )
        chain = [local[:, 0]]
        for k in range(1, len(self.parents)):
            chain.append(chain[self.parents[k]] @ local[:, k])
        world = torch.stack(chain, dim=1)  # (N, 24, 4, 4)
        posed_joints = world[:, :, :3, 3]
        rest = F.pad(torch.einsum("njab,njb->nja", world[:, :, :3, :3], joints), [0, 1])
        maps = world - F.pad(rest.unsqueeze(-1), [3, 0])
        blended = torch.einsum("vk,nkab->nvab", self.weights, maps)
        homogeneous = F.pad(v_posed, [0, 1], value=1.0)
        vertices = torch.einsum("nvab,nvb->nva", blended, homogeneous)[..., :3]
        extra = (
            torch.einsum("jv,nvc->njc", self.J_regressor_extra, vertices)
            if self.J_regressor_extra is not None
            else vertices.new_zeros((n, len(joint_sets.EXTRA_JOINT_NAMES), 3))
        )
        source = torch.cat([posed_joints, vertices[:, self.keypoint_ids], extra], dim=1)
        return source[:, self.spin49_source]


def eft_loss(pred_kp, gt_kp, pred_betas, pred_camera, settings: LossSettings, available):
    """run_eft_step's loss (eftFitter.py 271-341) for a batch of one, with its constants."""
    gt = gt_kp.clone()
    if not settings.use_hips:
        gt[:, [27, 28, 39], 2] = 0
    total_leg = pred_kp.new_zeros(())
    for ankle, knee in ((30, 29), (25, 26)):
        gt_dir = gt[0, ankle, :2] - gt[0, knee, :2]
        length = torch.norm(gt_dir)
        if length > settings.leg_min_length:
            validity = gt[0, ankle, 2] * gt[0, knee, 2]
            pred_dir = pred_kp[0, ankle] - pred_kp[0, knee]
            total_leg = total_leg + validity * (
                1 - torch.dot(gt_dir / length, pred_dir / torch.norm(pred_dir))
            )
    if not settings.use_ankles:
        gt[:, [30, 25], 2] = 0
    conf = gt[:, :, 2:].clone()
    conf[:, :25] *= settings.openpose_weight
    conf[:, 25:] *= settings.gt_weight
    conf = conf * available[None, :, None]
    keypoint = (conf * (pred_kp - gt[:, :, :2]) ** 2).mean()
    loss = (
        settings.keypoint_weight * keypoint
        + settings.betas_weight * torch.mean(pred_betas**2)
        + settings.camera_scale_weight
        * (torch.exp(-pred_camera[:, 0] * settings.camera_scale_rate) ** 2).mean()
        + settings.leg_orientation_weight * total_leg
    )
    return loss * settings.overall_scale, keypoint


class TorchEft:
    """EFT's per-exemplar loop in PyTorch (batch 1), on CPU or CUDA."""

    def __init__(self, network, body_model, settings, available, trainable, lr=5e-6, device="cpu"):
        self.device = torch.device(device)
        self.network = network.to(self.device)
        self.body = TorchBody(body_model).to(self.device)
        self.settings = settings
        self.available = torch.from_numpy(np.asarray(available, np.float32)).to(self.device)
        self.backup = {k: v.clone() for k, v in self.network.state_dict().items()}
        modules = {m for g in resolve_groups(trainable) for m in GROUPS[g]}
        self.parameters = []
        for name, param in self.network.named_parameters():
            is_bn = any(
                isinstance(m, torch.nn.BatchNorm2d) and p is param
                for m in self.network.modules()
                for p in m.parameters(recurse=False)
            )
            param.requires_grad = (name.split(".")[0] in modules) and not is_bn
            if param.requires_grad:
                self.parameters.append(param)
        self.lr = lr

    @classmethod
    def from_jax(
        cls, regressor, variables, body_model, settings: LossSettings, trainable="all", device="cpu"
    ):
        arch = regressor.arch
        block = Bottleneck if arch.backbone.block == "bottleneck" else BasicBlock
        mean = {
            k: np.asarray(getattr(regressor.mean_params, k), np.float32)
            for k in ("pose", "shape", "cam")
        }
        network = HMR(
            block,
            arch.backbone.blocks_per_stage,
            mean,
            arch.backbone.stem_width,
            arch.backbone.stage_widths,
            arch.head_width,
        )
        network.load_state_dict(torch_state_dict(variables), strict=False)
        available = np.asarray(body_model.spin49_available, np.float32)
        return cls(network, body_model, settings, available, trainable, device=device)

    def _exemplar_mode(self):  # exemplerTrainingMode
        self.network.train()
        for module in self.network.modules():
            if isinstance(module, (torch.nn.BatchNorm2d, torch.nn.Dropout)):
                module.eval()

    def step(self, image, keypoints, optimizer):
        """One run_eft_step: forward, loss, zero_grad, backward, Adam step; (loss, keypoint loss)."""
        self._exemplar_mode()
        rotmats, betas, camera, _, _ = self.network(image)
        joints = self.body(rotmats, betas)
        pred_kp = camera[:, None, :1] * joints[..., :2] + camera[:, None, 1:]  # weakProjection_gpu
        loss, keypoint = eft_loss(pred_kp, keypoints, betas, camera, self.settings, self.available)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss, keypoint

    def start(self):
        """Reload the base weights and a fresh Adam (EFT's reloadModel before each exemplar)."""
        self.network.load_state_dict(self.backup)
        return torch.optim.Adam(self.parameters, lr=self.lr, weight_decay=0)

    def inputs(self, image_nhwc: np.ndarray, keypoints: np.ndarray):
        image = torch.from_numpy(np.ascontiguousarray(image_nhwc.transpose(2, 0, 1)[None])).to(
            self.device
        )
        return image, torch.from_numpy(keypoints[None]).to(self.device)

    def fit(self, image_nhwc, keypoints, iters: int, threshold: float = 0.0) -> int:
        """EFT's loop on one exemplar; returns the number of passes run."""
        optimizer = self.start()
        image, target = self.inputs(image_nhwc, keypoints)
        passes = 0
        while passes < iters:
            _, keypoint = self.step(image, target, optimizer)
            passes += 1
            if keypoint.item() < threshold:
                break
        return passes

    def first_loss(self, image_nhwc, keypoints) -> float:
        """The loss of the first forward pass from the base weights (a parity check)."""
        self.network.load_state_dict(self.backup)
        self._exemplar_mode()
        image, target = self.inputs(image_nhwc, keypoints)
        with torch.no_grad():
            rotmats, betas, camera, _, _ = self.network(image)
            joints = self.body(rotmats, betas)
            pred_kp = camera[:, None, :1] * joints[..., :2] + camera[:, None, 1:]
            loss, _ = eft_loss(pred_kp, target, betas, camera, self.settings, self.available)
        return float(loss)
