"""Write the regressor parity fixtures with a PyTorch network laid out exactly as SPIN's HMR.

    python tests/make_regressor_goldens.py                 # the committed fixtures (tests/fixtures)
    python tests/make_regressor_goldens.py --full /tmp/x   # full-width ResNet-50 @224 (not committed)

Needs torch (2.13.0+cpu was used); the tests need only the written files. The network below is
written from SPIN's architecture (models/hmr.py: torchvision-style ResNet with v1.5 Bottleneck
blocks, conv1 bn1 relu maxpool layer1-4 avgpool, then fc1 drop1 fc2 drop2 decpose decshape deccam
and the init_pose/init_shape/init_cam buffers, 3 feedback iterations), with channel widths as
parameters so that a reduced copy keeps SPIN's names and topology.

Every weight is random and every BatchNorm has non-trivial statistics: running statistics are
accumulated over random batches in training mode, then weights, biases and the statistics are
perturbed, so a swapped mean/var, a missed epsilon or a transposed kernel cannot go unnoticed.
The decoders get larger weights than SPIN's 0.01-gain start so that the outputs depend on the
image (with SPIN's initialisation they would sit next to the mean parameters whatever the
backbone computed). Each checkpoint is saved the way SPIN's CheckpointSaver saves one.

Variants (fixture name: architecture, input size, torch serialisation):
- regressor_spin_r50_w8: ResNet-50 / SPIN topology, widths / 8 (stem 8, planes 8-64, head 128),
  64x64 input, zip format (torch >= 1.6 default);
- regressor_spin_r18_w16: ResNet-18 (basic blocks), widths / 16, 64x64 input, legacy format
  (`_use_new_zipfile_serialization=False`, as files from torch < 1.6, e.g. SPIN's 2019 release).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

FIXTURES = Path(__file__).resolve().parent / "fixtures"
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


VARIANTS = {
    # name: (block, layers, width divisor, image size, legacy serialisation)
    "regressor_spin_r50_w8": (Bottleneck, (3, 4, 6, 3), 8, 64, False),
    "regressor_spin_r18_w16": (BasicBlock, (2, 2, 2, 2), 16, 64, True),
    "regressor_spin_r50_full": (Bottleneck, (3, 4, 6, 3), 1, 224, False),
}


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


def randomise(model: HMR, image_size: int, generator: torch.Generator) -> None:
    with torch.no_grad():
        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        for bn in bns:
            bn.weight.uniform_(0.5, 1.5, generator=generator)
            bn.bias.normal_(0.0, 0.2, generator=generator)
            bn.momentum = None  # cumulative average over the calibration batches
        model.train()
        for _ in range(4):
            model(torch.randn(4, 3, image_size, image_size, generator=generator) * 1.5 + 0.2)
        model.eval()
        for bn in bns:
            bn.momentum = 0.1
            bn.running_mean.add_(0.1 * torch.randn(bn.running_mean.shape, generator=generator))
            bn.running_var.mul_(
                torch.empty(bn.running_var.shape).uniform_(0.7, 1.4, generator=generator)
            )
        # Decoder weights scaled so that each feedback step moves the estimate by ~0.3 (rms): far
        # enough from the mean to depend on the image, near enough to keep the 6D columns
        # well conditioned (Gram-Schmidt of nearly parallel columns would amplify rounding).
        captured = []
        hook = model.fc2.register_forward_hook(
            lambda module, inputs, output: captured.append(output)
        )
        model(torch.randn(4, 3, image_size, image_size, generator=generator))
        hook.remove()
        head_rms = captured[0].pow(2).mean().sqrt().item()
        head_width = model.fc2.weight.shape[0]
        for decoder in (model.decpose, model.decshape, model.deccam):
            decoder.weight.normal_(
                0.0, 0.3 / (head_rms * math.sqrt(head_width)), generator=generator
            )
            decoder.bias.normal_(0.0, 0.05, generator=generator)


def write_variant(name: str, out_dir: Path, seed: int = 0) -> None:
    block, layers, divisor, image_size, legacy = VARIANTS[name]
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = HMR(
        block,
        layers,
        random_mean_params(rng),
        stem_width=64 // divisor,
        stage_widths=tuple(w // divisor for w in (64, 128, 256, 512)),
        head_width=1024 // divisor,
    )
    randomise(model, image_size, generator)
    model.eval()

    images = rng.normal(size=(3, image_size, image_size, 3)).astype(np.float32)
    images[1] *= 0.5
    images[2] = np.clip(images[2], -1.0, 2.0) + 0.3
    nchw = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        outputs = model(nchw)
        outputs64 = model.double()(nchw.double())
    model.float()

    optimizer = torch.optim.Adam(model.parameters(), lr=5e-5)
    checkpoint = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": 3,
        "batch_idx": 0,
        "batch_size": 64,
        "dataset_perm": torch.randperm(8, generator=generator),
        "total_step_count": 12345,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, out_dir / f"{name}.pt", _use_new_zipfile_serialization=not legacy)
    names = ("rotmats", "betas", "camera", "pose6d", "features")
    np.savez_compressed(
        out_dir / f"{name}.npz",
        images=images,
        **{k: v.numpy().astype(np.float32) for k, v in zip(names, outputs)},
        **{f"{k}_float64": v.numpy() for k, v in zip(names, outputs64)},
        torch_version=np.array(torch.__version__),
    )
    spread = outputs[0].std(dim=0).mean().item()
    print(
        f"{name}: wrote {out_dir / name}.pt/.npz; mean per-entry std of rotmats across images {spread:.3f}"
    )


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--full", type=Path, help="write the full-width ResNet-50 @224 variant into this folder"
    )
    args = parser.parse_args()
    if args.full:
        write_variant("regressor_spin_r50_full", args.full)
    else:
        write_variant("regressor_spin_r50_w8", FIXTURES)
        write_variant("regressor_spin_r18_w16", FIXTURES)


if __name__ == "__main__":
    main()
