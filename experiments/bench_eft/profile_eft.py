"""Where an EFT iteration's time goes, eft-jax vs EFT's PyTorch loop, side by side in one run.

    python -m experiments.bench_eft.profile_eft [--batch 4] [--lowering vmap+im2col] [--seconds 20]
        [--out experiments/bench_eft]

Each part is timed alone (median per exemplar, calls interleaved round after round):

- forward: regressor -> body -> EFT loss (eft-jax: vmapped over B slots with per-slot weights);
- forward+backward: the same with the gradient of every trainable weight;
- Adam: the optimiser update of B slots' weights (torch: `optimizer.step()`, EFT's default Adam);
- step: the whole EFT iteration (eft-jax: `EftEngine.step`; torch: `run_eft_step`).

It also writes XLA's cost analysis of the eft-jax step (flops, bytes accessed) and where the
step's time goes by kind of XLA operation (matrix products, transposing copies, the Adam
fusions, ...): a jax.profiler trace of `--trace-steps` steps, each thunk's time summed by the
name XLA gave it without its number (`copy_bitcast_fusion.41` -> `copy_bitcast_fusion`).
"""

from __future__ import annotations

import argparse
import collections
import os
import platform
import re
import sys
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

# Every XLA thunk appears in a jax.profiler trace under its HLO name (set before jax starts).
os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_cpu_enable_xprof_traceme=true"

from eft_jax import body, fitting
from eft_jax.config import load_config
from eft_jax.fitting import lowering as lowering_lib
from eft_jax.fitting.engine import adam_step_where
from eft_jax.fitting.objective import exemplar_loss
from eft_jax.nets import Regressor, RegressorArch
from experiments.timing import time_interleaved

REPO = Path(__file__).resolve().parents[2]
STUDY = Path(__file__).resolve().parent


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--lowering", default="vmap+im2col")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--width-divisor", type=int, default=1)
    parser.add_argument("--trainable", default="all")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--trace-steps", type=int, default=2)
    parser.add_argument("--out", default=str(STUDY))
    args = parser.parse_args()

    size, batch = args.image_size, args.batch
    regressor = Regressor(RegressorArch.reduced(50, args.width_divisor))
    variables = regressor.init(jax.random.key(0), size)
    model = body.load()
    config = load_config(
        REPO / "configs" / "eft_default.py",
        ["max_iters=1000000", "stop_threshold=0.0", f"trainable={args.trainable}"],
    )
    engine = fitting.EftEngine(
        regressor,
        variables,
        model,
        config,
        crop_size=size,
        batch_size=batch,
        lowering=args.lowering,
    )
    mapping, im2col = lowering_lib.parse_lowering(engine.lowering)
    rng = np.random.default_rng(0)
    images = rng.normal(size=(batch, size, size, 3)).astype(np.float32)
    keypoints = np.concatenate(
        [rng.uniform(-0.8, 0.8, (batch, 49, 2)), np.ones((batch, 49, 1))], -1
    ).astype(np.float32)
    slots = engine.put_exemplars(engine.empty_slots(), list(range(batch)), images, keypoints)

    def loss_fn(params, image, kp):
        with lowering_lib.conv_lowering(im2col):
            return exemplar_loss(
                params, engine.frozen, image, kp, regressor=regressor, settings=engine.settings
            )[0]

    batched = lambda fn: lowering_lib.map_over_slots(lambda s: fn(*s), mapping, 4)  # noqa: E731
    forward = jax.jit(batched(loss_fn))
    grad = jax.jit(batched(jax.grad(loss_fn)))
    running = jnp.asarray(True)
    adam = jax.jit(
        batched(
            lambda g, o, p: adam_step_where(
                engine.adam_moments, config, engine.numbers.learning_rate, running, g, o, p
            )[0]
        )
    )
    params, opt_state = jax.tree.map(
        jnp.copy, (slots.params, slots.opt_state)
    )  # the step donates slots
    grads = jax.block_until_ready(grad((params, jnp.asarray(images), jnp.asarray(keypoints))))
    state = {"slots": slots}

    def step():
        state["slots"] = jax.block_until_ready(engine.step(state["slots"]))

    fns = {
        "eft-jax forward": lambda: jax.block_until_ready(
            forward((params, jnp.asarray(images), jnp.asarray(keypoints)))
        ),
        "eft-jax forward+backward": lambda: jax.block_until_ready(
            grad((params, jnp.asarray(images), jnp.asarray(keypoints)))
        ),
        "eft-jax Adam": lambda: jax.block_until_ready(adam((grads, opt_state, params))),
        "eft-jax step": step,
    }
    per = {name: batch for name in fns}
    if not args.no_torch:
        import torch

        from experiments.torch_reference import TorchEft

        torch.set_num_threads(
            len(os.sched_getaffinity(0))
        )  # the cores this process may use (taskset)
        loop = TorchEft.from_jax(
            regressor, variables, model, engine.settings, trainable=args.trainable
        )
        optimizer = loop.start()
        image, target = loop.inputs(images[0], keypoints[0])
        loop.step(image, target, optimizer)

        def t_forward(backward: bool):
            loop._exemplar_mode()
            rotmats, betas, camera, _, _ = loop.network(image)
            joints = loop.body(rotmats, betas)
            pred = camera[:, None, :1] * joints[..., :2] + camera[:, None, 1:]
            from experiments.torch_reference import eft_loss

            loss, _ = eft_loss(pred, target, betas, camera, loop.settings, loop.available)
            if backward:
                optimizer.zero_grad()
                loss.backward()
            return loss

        def t_forward_only():
            with torch.no_grad():
                t_forward(False)

        fns.update(
            {
                "torch forward (no_grad)": t_forward_only,
                "torch forward+backward": lambda: t_forward(True),
                "torch Adam": optimizer.step,
                "torch step": lambda: loop.step(image, target, optimizer)[1].item(),
            }
        )
        per.update({name: 1 for name in fns if name.startswith("torch")})

    times = time_interleaved(fns, args.seconds)
    kinds = time_by_op_kind(engine, state, args.trace_steps)
    compiled = engine._step.lower(state["slots"], engine.frozen, engine.numbers).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    flops = float(cost.get("flops", 0.0)) / batch
    accessed = float(cost.get("bytes accessed", 0.0)) / batch
    command = "python -m experiments.bench_eft.profile_eft " + " ".join(sys.argv[1:])
    lines = [
        f"Parts of one EFT iteration, per exemplar, on {jax.default_backend()} ({os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}), jax {jax.__version__}; eft-jax {engine.lowering} at B = {batch}; "
        f"ResNet-50 (width / {args.width_divisor}) @ {size} px, trainable: {args.trainable}. XLA cost analysis of the step "
        f"per exemplar: {flops / 1e9:.2f} GFLOP, {accessed / 2**30:.2f} GiB accessed.",
        "",
        f"`{command}`",
        "",
        "| part | ms / exemplar |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {1e3 * seconds / per[name]:.1f} |" for name, seconds in times.items()]
    lines += [
        "",
        f"Where the eft-jax step's time goes (jax.profiler trace of {args.trace_steps} steps; thunk time "
        "summed by kind of XLA operation, ms per exemplar; the kinds under 1 % are left out):",
        "",
        "| XLA operation | ms / exemplar | share |",
        "|---|---:|---:|",
    ]
    total = sum(kinds.values())
    lines += [
        f"| {kind} | {1e3 * seconds / (args.trace_steps * batch):.1f} | {100 * seconds / total:.0f} % |"
        for kind, seconds in kinds.most_common()
        if seconds > 0.01 * total
    ]
    table = "\n".join(lines) + "\n"
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "profile_eft.md").write_text(table)


def time_by_op_kind(engine, state, steps) -> collections.Counter:
    """Seconds spent in each kind of XLA thunk over `steps` engine steps (from a profiler trace)."""
    with tempfile.TemporaryDirectory() as directory:
        jax.profiler.start_trace(directory)
        for _ in range(steps):
            state["slots"] = jax.block_until_ready(engine.step(state["slots"]))
        jax.profiler.stop_trace()
        trace = jax.profiler.ProfileData.from_file(str(next(Path(directory).rglob("*.xplane.pb"))))
    kinds = collections.Counter()
    for plane in trace.planes:
        for line in plane.lines:
            if line.name == "python":
                continue
            for event in line.events:
                if not event.name.startswith("ThunkExecutor"):
                    kinds[re.sub(r"\.\d+$", "", event.name)] += event.duration_ns / 1e9
    return kinds


if __name__ == "__main__":
    main()
