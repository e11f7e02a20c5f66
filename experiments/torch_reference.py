"""The PyTorch originals eft-jax is measured against: SPIN's HMR and EFT's step (experiments and
the regressor fixtures only; torch is optional).

`HMR` is written from SPIN's architecture (models/hmr.py: torchvision-style ResNet with v1.5
Bottleneck blocks, conv1 bn1 relu maxpool layer1-4 avgpool, then fc1 drop1 fc2 drop2 decpose
decshape deccam and the init_pose/init_shape/init_cam buffers, 3 feedback iterations), with channel
widths as parameters so that a reduced copy keeps SPIN's names and topology
(tests/make_regressor_goldens.py writes the parity fixtures with it).

`TorchEft` is EFT's step, written after EFT's public code (facebookresearch/eft at c8400a6):
`EFTFitter.run_eft_step` (eft/train/eftFitter.py 212-348), `exemplerTrainingMode` (191-206:
BatchNorm and dropout in eval mode, BatchNorm weights frozen), the per-exemplar loop (1543-1589:
reload the weights, then forward, loss, zero_grad, backward, Adam step, read the keypoint loss,
stop under the threshold) and the optimiser (59-63: torch.optim.Adam over the model's parameters,
lr 5e-6). The network is `HMR`; the body model is linear blend skinning of the same
`eft_jax.body.BodyModel` arrays eft-jax uses (smplx's `lbs` steps), so both sides pose the same
body. Weights come from eft-jax's variables, so both sides start identical.

    loop = TorchEft.from_jax(regressor, variables, body_model, trainable="all", threads=2)
    loop.fit(image_nhwc, keypoints49x3, iters=20)        # one exemplar, EFT's loop
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from eft_jax.body import joint_sets
from eft_jax.fitting.losses import LossSettings
from eft_jax.nets import GROUPS, resolve_groups

NPOSE = 24 * 6


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


def rot6d_to_rotmat(x):
    """SPIN's utils.geometry.rot6d_to_rotmat."""
    x = x.reshape(-1, 3, 2)
    b1 = F.normalize(x[:, :, 0])
    a2 = x[:, :, 1]
    b2 = F.normalize(a2 - torch.einsum("bi,bi->b", b1, a2).unsqueeze(-1) * b1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)


class HMR(nn.Module):
    def __init__(
        self,
        block,
        layers,
        mean_params,
        stem_width=64,
        stage_widths=(64, 128, 256, 512),
        head_width=1024,
    ):
        super().__init__()
        self.inplanes = stem_width
        self.conv1 = nn.Conv2d(3, stem_width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, stage_widths[0], layers[0])
        self.layer2 = self._make_layer(block, stage_widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, stage_widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, stage_widths[3], layers[3], stride=2)
        # SPIN: AvgPool2d(7, stride=1), the global average at 224x224; adaptive so 64x64 works too.
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(stage_widths[3] * block.expansion + NPOSE + 13, head_width)
        self.drop1 = nn.Dropout()
        self.fc2 = nn.Linear(head_width, head_width)
        self.drop2 = nn.Dropout()
        self.decpose = nn.Linear(head_width, NPOSE)
        self.decshape = nn.Linear(head_width, 10)
        self.deccam = nn.Linear(head_width, 3)
        for decoder in (self.decpose, self.decshape, self.deccam):
            nn.init.xavier_uniform_(decoder.weight, gain=0.01)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                m.weight.data.normal_(0, math.sqrt(2.0 / n))
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.data.fill_(1)
                m.bias.data.zero_()
        self.register_buffer("init_pose", torch.from_numpy(mean_params["pose"]).unsqueeze(0))
        self.register_buffer("init_shape", torch.from_numpy(mean_params["shape"]).unsqueeze(0))
        self.register_buffer("init_cam", torch.from_numpy(mean_params["cam"]).unsqueeze(0))

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(
                    self.inplanes,
                    planes * block.expansion,
                    kernel_size=1,
                    stride=stride,
                    bias=False,
                ),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x, n_iter=3):
        batch = x.shape[0]
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        xf = self.avgpool(x).view(batch, -1)
        pose = self.init_pose.expand(batch, -1)
        shape = self.init_shape.expand(batch, -1)
        cam = self.init_cam.expand(batch, -1)
        for _ in range(n_iter):
            xc = torch.cat([xf, pose, shape, cam], 1)
            xc = self.drop2(self.fc2(self.drop1(self.fc1(xc))))
            pose = self.decpose(xc) + pose
            shape = self.decshape(xc) + shape
            cam = self.deccam(xc) + cam
        rotmat = rot6d_to_rotmat(pose).view(batch, 24, 3, 3)
        return rotmat, shape, cam, pose, xf


def random_mean_params(rng: np.random.Generator) -> dict:
    """Root pi about x (SPIN's upright start), small random joint rotations, random betas."""
    angles = rng.normal(scale=0.2, size=(24, 3))
    angles[0] = (math.pi, 0.0, 0.0)
    rotmats = torch.stack([torch.linalg.matrix_exp(_skew(a)) for a in torch.from_numpy(angles)])
    pose6d = rotmats[:, :, :2].reshape(-1).numpy().astype(np.float32)
    shape = rng.normal(scale=0.5, size=10).astype(np.float32)
    cam = np.array([0.9, 0.05, -0.1], np.float32)
    return {"pose": pose6d, "shape": shape, "cam": cam}


def _skew(v):
    x, y, z = v
    return torch.tensor([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]], dtype=torch.float64)


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
