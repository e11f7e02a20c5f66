"""Write the regressor parity fixtures with a PyTorch network laid out exactly as SPIN's HMR.

    python -m tests.make_regressor_goldens                 # the committed fixtures (tests/fixtures)
    python -m tests.make_regressor_goldens --full /tmp/x   # full-width ResNet-50 @224 (not committed)

Run from the repository root. Needs torch (2.13.0+cpu was used); the tests need only the written
files. The network is SPIN's HMR as experiments/torch_reference.py writes it (shared with the
benchmarks), with channel widths as parameters so that a reduced copy keeps SPIN's names and
topology.

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
from torch import nn

from experiments.torch_reference import HMR, BasicBlock, Bottleneck, random_mean_params

FIXTURES = Path(__file__).resolve().parent / "fixtures"


VARIANTS = {
    # name: (block, layers, width divisor, image size, legacy serialisation)
    "regressor_spin_r50_w8": (Bottleneck, (3, 4, 6, 3), 8, 64, False),
    "regressor_spin_r18_w16": (BasicBlock, (2, 2, 2, 2), 16, 64, True),
    "regressor_spin_r50_full": (Bottleneck, (3, 4, 6, 3), 1, 224, False),
}


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
