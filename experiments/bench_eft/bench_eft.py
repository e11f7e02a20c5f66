"""EFT throughput: the sequential loop vs the batched engine, per lowering and batch size, and
continuous vs static batching on a stream whose exemplars stop at different iterations.

    python -m experiments.bench_eft.bench_eft [--batches 1 4 16 64] [--iters 20] [--image-size 224]
        [--depth 50] [--strategies vmap map chunked vmap+im2col map+im2col] [--out experiments/bench_eft]

Paper configuration by default: ResNet-50 regressor at 224 px, every non-BatchNorm weight
trainable, a fixed number of iterations (stop threshold 0, so no exemplar stops early). The
regressor is untrained (random weights); speed does not depend on the weights.

- sequential: `fitting.SequentialEft`, one exemplar at a time (a Python loop of jitted steps).
- batched: `EftEngine` with B slots. With a fixed iteration count every step costs the same, so
  a batch's time is measured over `--timed-steps` steps after compilation and scaled to `--iters`:
  exemplars/s = B / (iters x seconds per step). The sequential loop is timed the same way.
- stream: `fit_stream` over `--stream-exemplars` exemplars of which half stop after the first
  pass (their targets are the regressor's own keypoints) and half run to `--iters`, continuous
  vs static batching, end to end (compilation excluded).
- memory per slot: XLA's compiled memory analysis of the step (arguments + temporaries) / B.
- GFLOP/s: XLA's flop count of one exemplar's forward+backward (cost analysis of the sequential
  step) x exemplar-iterations per second.

Against the original PyTorch loop (torch needed; writes bench_eft_torch.md):

    python -m experiments.bench_eft.bench_eft --against-torch [--batches 4 8] [--strategies vmap+im2col]
        [--rounds 3] [--trainable all] [--torch-threads 2] [--lanes 1 2] [--iterations-per-call 16]

EFT's step in PyTorch (experiments/torch_reference.py: batch 1, forward, loss, backward, Adam, as
EFT's loop runs it) and eft-jax's engine, with the same weights, body model and inputs, take
turns round after round, so load from other processes falls on both alike; each cell is the
median seconds per exemplar-iteration over the rounds, and the ratio is torch time / eft-jax
time (> 1: eft-jax is faster). Both use the same cores: torch.set_num_threads(the cores this
process may use), and XLA uses those cores. On a machine shared with other jobs, OpenMP's
barriers (torch) suffer far more from oversubscription than XLA's thread pool; there, pin the
run to one core (`taskset -c 0 python -m experiments.bench_eft.bench_eft --against-torch`), a per-core
comparison that load from other processes cannot skew. `--lanes N` also times N groups of B
slots stepped on threads of their own, as `fitting.fit_stream` runs them (the CPU default is 2
lanes of 2 slots, 16 iterations per call: `--batches 2 --lanes 2 --iterations-per-call 16`).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import threading
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from eft_jax import body, fitting
from eft_jax.config import load_config
from eft_jax.fitting.objective import exemplar_loss
from eft_jax.nets import Regressor, RegressorArch

REPO = Path(__file__).resolve().parents[2]
STUDY = Path(__file__).resolve().parent


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--depth", type=int, default=50)
    parser.add_argument("--width-divisor", type=int, default=1)
    parser.add_argument(
        "--strategies", nargs="+", default=["vmap", "map", "chunked", "vmap+im2col", "map+im2col"]
    )
    parser.add_argument("--chunk-size", type=int, default=4)
    parser.add_argument("--timed-steps", type=int, default=2)
    parser.add_argument(
        "--max-step-seconds",
        type=float,
        default=30.0,
        help="skip a (strategy, B) whose estimated step time exceeds this",
    )
    parser.add_argument(
        "--memory-budget-gb",
        type=float,
        default=None,
        help="skip a B whose compiled step needs more than this (default: 80%% of RAM on CPU)",
    )
    parser.add_argument("--stream-batch", type=int, default=4)
    parser.add_argument("--stream-exemplars", type=int, default=16)
    parser.add_argument("--stream-lowering", default=None)
    parser.add_argument("--out", default=str(STUDY))
    parser.add_argument(
        "--against-torch",
        action="store_true",
        help="time eft-jax's engine against EFT's PyTorch loop, side by side",
    )
    parser.add_argument(
        "--trainable", default="all", help="trainable preset (configs/eft_default.py)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="default: the cores this process may use (XLA uses them all; pin both with taskset)",
    )
    parser.add_argument("--torch-iters", type=int, default=5, help="torch EFT iterations per round")
    parser.add_argument("--tag", default="", help="suffix of the output file names")
    parser.add_argument(
        "--compare-cache",
        action="store_true",
        help="also time each engine without frozen-prefix caching (config.cache_prefix=False)",
    )
    parser.add_argument(
        "--lanes",
        type=int,
        nargs="+",
        default=[1],
        help="with --against-torch: also time each batch size as this many lanes of B slots, "
        "each stepped on a thread of its own as fitting.fit_stream runs them (config.lanes)",
    )
    parser.add_argument(
        "--iterations-per-call",
        type=int,
        default=1,
        help="with --against-torch: EFT iterations per call of the engine's step "
        "(config.iterations_per_call; none of the slots stops, so each call runs them all)",
    )
    parser.add_argument(
        "--compare-joints",
        action="store_true",
        help="also time each engine posing the full mesh (config.joints_only=False)",
    )
    args = parser.parse_args()
    if args.against_torch and "--batches" not in sys.argv:
        args.batches = [4, 8]
    if args.against_torch and "--strategies" not in sys.argv:
        args.strategies = ["vmap+im2col"]
    return args


def recorded_args(args) -> dict:
    """The arguments as the result files record them: an output folder inside the repository
    relative to it, so the files name no path of the machine that ran them."""
    out = Path(args.out).resolve()
    return dict(
        vars(args), out=str(out.relative_to(REPO)) if out.is_relative_to(REPO) else args.out
    )


def block(tree):
    return jax.block_until_ready(tree)


def make_exemplars(count, size, predict, converged_every=2):
    """Random crops; every `converged_every`-th exemplar's targets are the regressor's own
    initial keypoints (stops after one pass), the others' are far off (run to max_iters)."""
    rng = np.random.default_rng(0)
    exemplars = []
    for i in range(count):
        image = rng.normal(size=(size, size, 3)).astype(np.float32)
        if i % converged_every == 0:
            target = np.asarray(predict(image))
        else:
            target = rng.uniform(-0.8, 0.8, size=(49, 2))
        keypoints = np.concatenate([target, np.ones((49, 1))], -1).astype(np.float32)
        exemplars.append(fitting.Exemplar(i, image, keypoints))
    return exemplars


def time_sequential(seq, exemplar, iters, timed_steps):
    image, keypoints = jnp.asarray(exemplar.image), jnp.asarray(exemplar.keypoints)
    params, opt_state = seq.base, seq.optimizer.init(seq.base)
    (_, _), grads = block(seq._loss_and_grad(params, seq.frozen, image, keypoints, None))
    block(seq._update(grads, opt_state, params))
    start = time.perf_counter()
    for _ in range(timed_steps):
        (total, _), grads = seq._loss_and_grad(params, seq.frozen, image, keypoints, None)
        float(total)  # the loop reads the loss every iteration, as EFT's does
        params, opt_state = seq._update(grads, opt_state, params)
    block(params)
    per_step = (time.perf_counter() - start) / timed_steps
    return per_step


def step_memory(engine, slots):
    compiled = engine._step.lower(slots, engine.frozen, engine.numbers).compile()
    analysis = compiled.memory_analysis()
    if analysis is None:
        return None
    return analysis.argument_size_in_bytes + analysis.temp_size_in_bytes


def against_torch(args):
    """Side by side: EFT's PyTorch loop vs eft-jax's engine, interleaved rounds."""
    import os
    import statistics

    import torch

    from experiments.torch_reference import TorchEft

    threads = args.torch_threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    size = args.image_size
    regressor = Regressor(RegressorArch.reduced(args.depth, args.width_divisor))
    variables = regressor.init(jax.random.key(0), size)
    model = body.load()
    overrides = [f"max_iters={10**6}", "stop_threshold=0.0", f"trainable={args.trainable}"]
    config = load_config(REPO / "configs" / "eft_default.py", overrides)
    settings = fitting.LossSettings.from_config(config.loss)
    exemplars = make_exemplars(
        max(args.batches), size, lambda image: np.zeros((49, 2)), converged_every=10**9
    )
    loop = TorchEft.from_jax(regressor, variables, model, settings, trainable=args.trainable)
    seq = fitting.SequentialEft(regressor, variables, model, config, crop_size=size)
    first = exemplars[0]
    (jax_loss, _), _ = seq._loss_and_grad(
        seq.base, seq.frozen, jnp.asarray(first.image), jnp.asarray(first.keypoints), None
    )
    torch_loss = loop.first_loss(first.image, first.keypoints)
    parity = abs(float(jax_loss) - torch_loss) / abs(torch_loss)
    print(
        f"first-pass loss: eft-jax {float(jax_loss):.6f}, torch {torch_loss:.6f} (relative difference {parity:.1e})"
    )

    engines = {}
    options = (
        [()]
        + [("cache_prefix=False",)] * args.compare_cache
        + [("joints_only=False",)] * args.compare_joints
    )
    variants = [
        (s, b, n, o)
        for s in args.strategies
        for b in args.batches
        for n in args.lanes
        for o in options
    ]
    for strategy, batch, lanes, option in variants:
        engine_config = load_config(REPO / "configs" / "eft_default.py", overrides + list(option))
        engine = fitting.EftEngine(
            regressor,
            variables,
            model,
            engine_config,
            crop_size=size,
            batch_size=batch,
            lowering=strategy,
        )
        chosen = exemplars[:batch]
        lane_slots = [
            block(  # compile + first pass
                engine.step(
                    engine.put_exemplars(
                        engine.empty_slots(),
                        list(range(batch)),
                        np.stack([e.image for e in chosen]),
                        np.stack([e.keypoints for e in chosen]),
                    )
                )
            )
            for _ in range(lanes)
        ]
        body_path = "joints-only" if engine_config.joints_only else "full mesh"
        key = (strategy, batch, f"{engine.entry}, {body_path}", lanes)
        engines[key] = [engine, lane_slots]
        print(f"compiled {strategy} {lanes} x B={batch} {key[2]}", flush=True)

    def torch_round():
        optimizer = loop.start()
        image, target = loop.inputs(first.image, first.keypoints)
        loop.step(image, target, optimizer)  # the reload and first pass are not timed
        start = time.perf_counter()
        for _ in range(args.torch_iters):
            _, keypoint = loop.step(image, target, optimizer)
            keypoint.item()
        return (time.perf_counter() - start) / args.torch_iters

    def jax_round(key):
        engine, lane_slots = engines[key]

        def run_lane(lane):
            slots = lane_slots[lane]
            for _ in range(args.timed_steps):
                slots = engine.step(slots, args.iterations_per_call)
            engine.done_flags(slots)
            lane_slots[lane] = slots

        lanes = [threading.Thread(target=run_lane, args=(n,)) for n in range(len(lane_slots))]
        start = time.perf_counter()
        for lane in lanes:
            lane.start()
        for lane in lanes:
            lane.join()
        iterations = args.timed_steps * args.iterations_per_call * key[1] * key[3]
        return (time.perf_counter() - start) / iterations

    torch_round()
    times = {"torch": [], **{key: [] for key in engines}}
    for r in range(args.rounds):
        times["torch"].append(torch_round())
        for key in engines:
            times[key].append(jax_round(key))
        print(
            f"round {r}: torch {times['torch'][-1]:.3f} s/it; "
            + ", ".join(f"{k[0]} {k[3]} x B={k[1]} from {k[2]} {times[k][-1]:.3f}" for k in engines)
            # another job's load collapses torch's threads: a round under load does not count
            + "; load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()),
            flush=True,
        )

    torch_median = statistics.median(times["torch"])
    rows = [
        dict(
            impl=f"PyTorch EFT loop (torch {torch.__version__}, {threads} threads)",
            lowering="-",
            batch=1,
            entry="image, full mesh",
            s_per_it=torch_median,
            range=(min(times["torch"]), max(times["torch"])),
            ratio=1.0,
            ratios=None,
        )
    ]
    for key in engines:
        per_round = [t / j for t, j in zip(times["torch"], times[key])]
        rows.append(
            dict(
                impl="eft-jax engine" + (f", {key[3]} lanes" if key[3] > 1 else ""),
                lowering=key[0],
                batch=key[1],
                entry=key[2],
                s_per_it=statistics.median(times[key]),
                range=(min(times[key]), max(times[key])),
                ratio=torch_median / statistics.median(times[key]),
                ratios=(min(per_round), max(per_round)),
            )
        )
    command = "python -m experiments.bench_eft.bench_eft " + " ".join(sys.argv[1:])
    header = (
        f"EFT step, eft-jax vs EFT's PyTorch loop, side by side on {jax.default_backend()} ({os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}); jax {jax.__version__}, torch {torch.__version__}; "
        f"ResNet-{args.depth} (width / {args.width_divisor}) @ {size} px, trainable: {args.trainable}; "
        f"{args.rounds} interleaved rounds (torch {args.torch_iters} iterations, eft-jax {args.timed_steps} steps "
        f"of {args.iterations_per_call} iteration(s) each; B: slots per lane). "
        f"First-pass loss eft-jax vs torch: relative difference {parity:.1e}.\n\n`{command}`"
    )
    lines = [
        header,
        "",
        "| impl | lowering | B | starts at, body | s / exemplar-iteration (median, range) | vs PyTorch (median; per-round range) |",
        "|---|---|---:|---|---:|---:|",
    ]
    for row in rows:
        ratios = (
            "" if row["ratios"] is None else f" ({row['ratios'][0]:.2f}-{row['ratios'][1]:.2f})"
        )
        lines.append(
            f"| {row['impl']} | {row['lowering']} | {row['batch']} | {row['entry']} | {row['s_per_it']:.4f} "
            f"({row['range'][0]:.4f}-{row['range'][1]:.4f}) | {row['ratio']:.2f}x{ratios} |"
        )
    table = "\n".join(lines) + "\n"
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = f"bench_eft_torch{args.tag}"
    (out / f"{name}.md").write_text(table)
    (out / f"{name}.json").write_text(
        json.dumps(
            {
                "args": recorded_args(args),
                "command": command,
                "parity": parity,
                "times": {str(k): v for k, v in times.items()},
                "rows": rows,
            },
            indent=2,
        )
    )


def main():
    args = parse_args()
    if args.against_torch:
        return against_torch(args)
    backend = jax.default_backend()
    size = args.image_size
    arch = RegressorArch.reduced(args.depth, args.width_divisor)
    regressor = Regressor(arch)
    variables = regressor.init(jax.random.key(0), size)
    model = body.load()
    overrides = [f"max_iters={args.iters}", "stop_threshold=0.0", f"chunk_size={args.chunk_size}"]
    config = load_config(REPO / "configs" / "eft_default.py", overrides)
    seq = fitting.SequentialEft(regressor, variables, model, config, crop_size=size)
    predict = jax.jit(
        lambda image: (
            exemplar_loss(
                seq.base,
                seq.frozen,
                image,
                jnp.zeros((49, 3)),
                regressor=regressor,
                settings=fitting.LossSettings(),
            )[1][1].keypoints_2d
        )
    )
    budget = args.memory_budget_gb
    if budget is None and backend == "cpu":
        import os

        budget = 0.8 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30

    exemplars = make_exemplars(max(args.batches + [args.stream_exemplars]), size, predict)
    lowered = seq._loss_and_grad.lower(
        seq.base,
        seq.frozen,
        jnp.asarray(exemplars[0].image),
        jnp.asarray(exemplars[0].keypoints),
        None,
    )
    cost = lowered.compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    flops = float(cost.get("flops", 0.0)) if cost else 0.0

    rows = []
    seq_step = time_sequential(seq, exemplars[1], args.iters, args.timed_steps)
    seq_rate = 1.0 / (seq_step * args.iters)
    rows.append(
        dict(
            mode="sequential",
            lowering="-",
            batch=1,
            step_s=seq_step,
            exemplars_per_s=seq_rate,
            vs_sequential=1.0,
            gflops=flops * seq_rate * args.iters / 1e9,
            memory_per_slot_mb=None,
        )
    )
    print(f"sequential: {seq_step:.3f} s/iteration, {seq_rate:.4f} exemplars/s", flush=True)

    for strategy in args.strategies:
        last_step = None
        for batch in args.batches:
            if (
                last_step is not None
                and last_step[1] * batch / last_step[0] > args.max_step_seconds
            ):
                print(
                    f"{strategy} B={batch}: skipped (estimated step > {args.max_step_seconds} s)",
                    flush=True,
                )
                rows.append(
                    dict(
                        mode="batched",
                        lowering=strategy,
                        batch=batch,
                        skipped="estimated step time too long",
                    )
                )
                continue
            engine = fitting.EftEngine(
                regressor,
                variables,
                model,
                config,
                crop_size=size,
                batch_size=batch,
                lowering=strategy,
            )
            slots = engine.empty_slots()
            memory = step_memory(engine, slots)
            if memory is not None and budget is not None and memory / 2**30 > budget:
                print(f"{strategy} B={batch}: skipped (needs {memory / 2**30:.1f} GiB)", flush=True)
                rows.append(
                    dict(
                        mode="batched",
                        lowering=strategy,
                        batch=batch,
                        skipped=f"needs {memory / 2**30:.1f} GiB",
                    )
                )
                continue
            batch_exemplars = exemplars[:batch]
            slots = engine.put_exemplars(
                slots,
                list(range(batch)),
                np.stack([e.image for e in batch_exemplars]),
                np.stack([e.keypoints for e in batch_exemplars]),
            )
            slots = block(engine.step(slots))  # compile + first pass
            start = time.perf_counter()
            for _ in range(args.timed_steps):
                slots = engine.step(slots)
            engine.done_flags(slots)
            step = (time.perf_counter() - start) / args.timed_steps
            last_step = (batch, step)
            rate = batch / (step * args.iters)
            rows.append(
                dict(
                    mode="batched",
                    lowering=strategy,
                    batch=batch,
                    step_s=step,
                    exemplars_per_s=rate,
                    vs_sequential=rate / seq_rate,
                    gflops=flops * rate * args.iters / 1e9,
                    memory_per_slot_mb=None if memory is None else memory / batch / 2**20,
                )
            )
            print(
                f"{strategy} B={batch}: {step:.3f} s/step, {rate:.4f} exemplars/s, {rate / seq_rate:.2f}x sequential",
                flush=True,
            )
            del slots, engine

    stream_lowering = args.stream_lowering or fitting.default_lowering(batch_size=args.stream_batch)
    stream_config = load_config(
        REPO / "configs" / "eft_default.py", [f"max_iters={args.iters}"]
    )  # EFT's threshold
    engine = fitting.EftEngine(
        regressor,
        variables,
        model,
        stream_config,
        crop_size=size,
        batch_size=args.stream_batch,
        lowering=stream_lowering,
    )
    stream = exemplars[: args.stream_exemplars]
    slots = engine.empty_slots()
    count = 1
    while count <= args.stream_batch:  # compile every padded size of the refill scatter
        slots = engine.put_exemplars(
            slots,
            list(range(count)),
            np.stack([e.image for e in stream[:count]]),
            np.stack([e.keypoints for e in stream[:count]]),
        )
        count *= 2
    block(engine.step(slots))
    del slots
    for continuous in (True, False):
        start = time.perf_counter()
        results = list(fitting.fit_stream(stream, engine, continuous=continuous))
        seconds = time.perf_counter() - start
        passes = sum(r.iterations for r in results)
        rate = len(results) / seconds
        rows.append(
            dict(
                mode="stream " + ("continuous" if continuous else "static"),
                lowering=stream_lowering,
                batch=args.stream_batch,
                seconds=seconds,
                exemplars_per_s=rate,
                passes=passes,
                vs_sequential=None,
                memory_per_slot_mb=None,
            )
        )
        print(
            f"stream {'continuous' if continuous else 'static'}: {len(results)} exemplars ({passes} passes) in "
            f"{seconds:.1f} s, {rate:.4f} exemplars/s",
            flush=True,
        )
    # What the sequential loop would need for the same stream (it stops each exemplar early too).
    seq_stream_seconds = passes * seq_step
    for row in rows[-2:]:
        row["vs_sequential"] = (len(stream) / row["seconds"]) / (len(stream) / seq_stream_seconds)

    write(args, rows, flops, backend)


def write(args, rows, flops, backend):
    device = jax.devices()[0]
    header = (
        f"EFT on {backend} ({device.device_kind}, {jax.local_device_count()} device(s), {platform.processor() or platform.machine()}), "
        f"jax {jax.__version__}; ResNet-{args.depth} (width / {args.width_divisor}) @ {args.image_size} px, all layers "
        f"trainable, {args.iters} iterations; XLA flops per exemplar-iteration (forward+backward): {flops / 1e9:.2f} GFLOP"
    )
    lines = [
        header,
        "",
        "| mode | lowering | B | s / step | exemplars/s | vs sequential | GFLOP/s | memory / slot (MiB) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        if "skipped" in row:
            lines.append(
                f"| {row['mode']} | {row['lowering']} | {row['batch']} | skipped: {row['skipped']} | | | | |"
            )
            continue
        step = (
            f"{row['step_s']:.3f}"
            if "step_s" in row
            else f"({row['seconds']:.1f} s total, {row['passes']} passes)"
        )
        gflops = f"{row['gflops']:.1f}" if row.get("gflops") is not None else ""
        memory = (
            f"{row['memory_per_slot_mb']:.0f}" if row.get("memory_per_slot_mb") is not None else ""
        )
        vs = f"{row['vs_sequential']:.2f}x" if row.get("vs_sequential") is not None else ""
        lines.append(
            f"| {row['mode']} | {row['lowering']} | {row['batch']} | {step} | {row['exemplars_per_s']:.4f} | {vs} | {gflops} | {memory} |"
        )
    table = "\n".join(lines) + "\n"
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_eft.md").write_text(table)
    (out / "bench_eft.json").write_text(
        json.dumps(
            {
                "args": recorded_args(args),
                "backend": backend,
                "flops_per_iteration": flops,
                "rows": rows,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
