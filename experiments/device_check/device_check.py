"""One-call accelerator check: eft-jax's EFT throughput per slot count, lowering and dtype, memory
per slot, XLA's FLOP count against the chip's peak, EFT's PyTorch loop on the same device, and the
capacity plan's estimate (experiments/capacity) next to what was measured.

    experiments/device_check/device_check.sh           # full size: ResNet-50 @224, 20 iterations, B = 1 ... 256
    experiments/device_check/device_check.sh --smoke   # CI size on the CPU (a test runs it)

Writes `device_check.md` (one markdown table) and `device_check.json` under --out. Cells are
filled in order of importance (float32 vmap first) and the rest are marked "not run" once
--budget-s is spent, so the script always finishes and always writes its table. Exemplars/s is
B / (iterations x seconds per step), every slot running all iterations (stop threshold 0), the
step timed over --timed-steps steps after compilation, as experiments/bench_eft/bench_eft.py does.

Estimates beside each measurement (full size, on a chip experiments/accelerators.py knows): the
plan's, the roofline of the per slot-iteration FLOPs and bytes that XLA's CPU cost analysis
counted (experiments/capacity/capacity.json), and the same roofline over this device's own
compiled step (its fusions included). Both are B / (iterations x roofline seconds per step).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import numpy as np

from eft_jax import body, fitting
from eft_jax.config import load_config
from eft_jax.nets import Regressor, RegressorArch
from experiments.accelerators import ARITHMETIC, accelerator_for, roofline_seconds

REPO = Path(__file__).resolve().parents[2]
STUDY = Path(__file__).resolve().parent
CAPACITY_PLAN = REPO / "experiments" / "capacity" / "capacity.json"

FULL = dict(
    depth=50,
    width_divisor=1,
    image_size=224,
    iters=20,
    batches=[1, 8, 32, 128, 256],
    lowerings=["vmap", "vmap+im2col"],
    dtypes=["float32", "bfloat16"],
    timed_steps=3,
    budget_s=420.0,
)
SMOKE = dict(
    depth=18,
    width_divisor=16,
    image_size=32,
    iters=2,
    batches=[2],
    lowerings=["vmap", "vmap+im2col"],
    dtypes=["float32", "bfloat16"],
    timed_steps=1,
    budget_s=240.0,
)


def peak_for(device_kind: str, dtype: str):
    """Dense peak TFLOP/s of the device at the arithmetic `dtype` runs at (float32: TF32)."""
    accelerator = accelerator_for(device_kind)
    return accelerator.tflops[ARITHMETIC[dtype]] if accelerator else None


def plan_costs(setup: dict) -> dict:
    """(lowering, dtype) -> the capacity plan's per slot-iteration FLOPs and bytes for this
    check's network (ResNet-50 @224, all layers trainable); empty at other sizes."""
    full = (setup["depth"], setup["width_divisor"], setup["image_size"]) == (50, 1, 224)
    if not full or not CAPACITY_PLAN.exists():
        return {}
    rows = json.loads(CAPACITY_PLAN.read_text())["rows"]
    return {
        (row["lowering"], row["dtype"]): (row["step"]["flops"], row["step"]["bytes"])
        for row in rows
        if row["network"] == "resnet50" and row["trainable"] == "all"
    }


def estimated_rate(kind: str, dtype: str, iters: int, flops: float, bytes_: float):
    """Roofline exemplars/s of slots running `iters` steps of `flops` and `bytes_` per
    slot-iteration on device `kind` (None on a device without known figures)."""
    accelerator = accelerator_for(kind)
    if accelerator is None:
        return None
    return 1.0 / (iters * roofline_seconds(flops, bytes_, accelerator, ARITHMETIC[dtype]))


def measure_engine(regressor, variables, model, size, iters, batch, lowering, dtype, timed_steps):
    config = load_config(
        REPO / "configs" / "eft_default.py",
        [f"max_iters={10**6}", "stop_threshold=0.0", f"compute_dtype={dtype}"],
    )
    engine = fitting.EftEngine(
        regressor, variables, model, config, crop_size=size, batch_size=batch, lowering=lowering
    )
    rng = np.random.default_rng(0)
    images = rng.normal(size=(batch, size, size, 3)).astype(np.float32)
    keypoints = np.concatenate(
        [rng.uniform(-0.8, 0.8, (batch, 49, 2)), np.ones((batch, 49, 1))], -1
    ).astype(np.float32)
    slots = engine.put_exemplars(engine.empty_slots(), list(range(batch)), images, keypoints)
    compiled = engine._step.lower(slots, engine.frozen, engine.numbers).compile()
    memory = compiled.memory_analysis()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    flops = float(cost.get("flops", 0.0)) if cost else 0.0
    bytes_accessed = float(cost.get("bytes accessed", 0.0)) if cost else 0.0
    slots = jax.block_until_ready(engine.step(slots))
    start = time.perf_counter()
    for _ in range(timed_steps):
        slots = engine.step(slots)
    jax.block_until_ready(slots)
    step = (time.perf_counter() - start) / timed_steps
    per_slot = None
    if memory is not None:
        per_slot = (memory.argument_size_in_bytes + memory.temp_size_in_bytes) / batch / 2**20
    return dict(
        step_s=step,
        exemplars_per_s=batch / (iters * step),
        flops_per_step=flops,
        bytes_per_step=bytes_accessed,
        memory_per_slot_mib=per_slot,
    )


def measure_torch(regressor, variables, model, size, iters, repeats):
    try:
        import torch

        from experiments.torch_reference import TorchEft
    except ImportError as error:
        return dict(skipped=f"torch not available ({error})")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    settings = fitting.LossSettings()
    loop = TorchEft.from_jax(regressor, variables, model, settings, device=device)
    rng = np.random.default_rng(0)
    image = rng.normal(size=(size, size, 3)).astype(np.float32)
    keypoints = np.concatenate([rng.uniform(-0.8, 0.8, (49, 2)), np.ones((49, 1))], -1).astype(
        np.float32
    )
    loop.fit(image, keypoints, iters=2)  # warm-up (cuDNN autotuning, allocator)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        loop.fit(image, keypoints, iters=iters)
    sync()
    seconds = (time.perf_counter() - start) / repeats
    return dict(device=device, torch=torch.__version__, exemplars_per_s=1.0 / seconds)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="CI size on the CPU")
    parser.add_argument(
        "--budget-s",
        type=float,
        default=None,
        help="stop starting new cells after this many seconds",
    )
    parser.add_argument("--out", default=str(STUDY))
    args = parser.parse_args()
    setup = dict(SMOKE if args.smoke else FULL)
    if args.budget_s is not None:
        setup["budget_s"] = args.budget_s
    began = time.perf_counter()
    device = jax.devices()[0]
    size, iters = setup["image_size"], setup["iters"]
    regressor = Regressor(RegressorArch.reduced(setup["depth"], setup["width_divisor"]))
    variables = regressor.init(jax.random.key(0), size)
    model = body.load()

    torch_row = measure_torch(
        regressor, variables, model, size, iters, repeats=1 if args.smoke else 3
    )
    print("torch:", torch_row, flush=True)
    cells = []
    for dtype in setup["dtypes"]:
        for lowering in setup["lowerings"]:
            for batch in setup["batches"]:
                cells.append((lowering, dtype, batch))
    cells.sort(key=lambda c: (c[1] != "float32", c[0] != "vmap"))  # float32 vmap first
    rows = []
    for lowering, dtype, batch in cells:
        row = dict(lowering=lowering, dtype=dtype, batch=batch)
        if time.perf_counter() - began > setup["budget_s"]:
            row["skipped"] = "not run (time budget spent)"
        else:
            try:
                row.update(
                    measure_engine(
                        regressor,
                        variables,
                        model,
                        size,
                        iters,
                        batch,
                        lowering,
                        dtype,
                        setup["timed_steps"],
                    )
                )
            except (
                Exception
            ) as error:  # out of memory at large B, unsupported dtype: recorded, not fatal
                row["skipped"] = (
                    f"failed: {type(error).__name__}: {str(error).splitlines()[0][:120]}"
                )
        rows.append(row)
        print(row, flush=True)

    write(args, setup, device, rows, torch_row, time.perf_counter() - began)


def write(args, setup, device, rows, torch_row, seconds):
    kind = getattr(device, "device_kind", str(device))
    torch_rate = torch_row.get("exemplars_per_s")
    command = "experiments/device_check/device_check.sh" + (" --smoke" if args.smoke else "")
    plan = plan_costs(setup)
    lines = [
        f"EFT device check on {jax.default_backend()} ({kind}, {jax.local_device_count()} device(s)), jax {jax.__version__}; "
        f"ResNet-{setup['depth']} (width / {setup['width_divisor']}) @ {setup['image_size']} px, all layers trainable, "
        f"{setup['iters']} iterations; {seconds:.0f} s in all. `{command}`",
        "",
        "PyTorch EFT loop (batch 1, EFT's step): "
        + (
            f"{torch_rate:.3f} exemplars/s on {torch_row['device']} (torch {torch_row['torch']})"
            if torch_rate
            else torch_row.get("skipped", "not run")
        ),
        "",
        "Estimated: the capacity plan's roofline (experiments/capacity: FLOPs and bytes from XLA's "
        "CPU cost analysis) and the same roofline over this device's compiled step; measured / "
        "estimated below 1 means slower than the estimate.",
        "",
        "| lowering | dtype | B | s / step | exemplars/s | vs PyTorch loop | GFLOP / exemplar-iteration | TFLOP/s (% of peak) | memory / slot (MiB) "
        "| estimated exemplars/s (plan) | measured / plan | GB / exemplar-iteration (this device) | roofline exemplars/s (this device) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        head = f"| {row['lowering']} | {row['dtype']} | {row['batch']} |"
        if "skipped" in row:
            lines.append(f"{head} {row['skipped']} | | | | | | | | | |")
            continue
        per_it = row["flops_per_step"] / row["batch"]
        achieved = row["flops_per_step"] / row["step_s"] / 1e12
        peak = peak_for(kind, row["dtype"])
        share = f" ({100 * achieved / peak:.1f} %)" if peak else ""
        ratio = f"{row['exemplars_per_s'] / torch_rate:.1f}x" if torch_rate else ""
        memory = "" if row["memory_per_slot_mib"] is None else f"{row['memory_per_slot_mib']:.0f}"
        bytes_per_it = row["bytes_per_step"] / row["batch"]
        estimates = ["", ""]
        if (row["lowering"], row["dtype"]) in plan:
            planned = estimated_rate(
                kind, row["dtype"], setup["iters"], *plan[row["lowering"], row["dtype"]]
            )
            if planned:
                row["plan_exemplars_per_s"] = planned
                estimates = [f"{planned:.2f}", f"{row['exemplars_per_s'] / planned:.2f}"]
        own = estimated_rate(kind, row["dtype"], setup["iters"], per_it, bytes_per_it)
        if own:
            row["roofline_exemplars_per_s"] = own
        lines.append(
            f"{head} {row['step_s']:.4f} | {row['exemplars_per_s']:.2f} | {ratio} | {per_it / 1e9:.3g} | "
            f"{achieved:.3g}{share} | {memory} | {estimates[0]} | {estimates[1]} | "
            f"{bytes_per_it / 1e9:.3g} | {'' if own is None else f'{own:.2f}'} |"
        )
    table = "\n".join(lines) + "\n"
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "device_check.md").write_text(table)
    (out / "device_check.json").write_text(
        json.dumps(
            dict(setup=setup, device=kind, rows=rows, torch=torch_row, seconds=seconds),
            indent=2,
            default=str,
        )
    )


if __name__ == "__main__":
    main()
