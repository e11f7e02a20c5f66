"""Capacity plan on paper: XLA's cost analysis of one EFT engine step per lowering, trainable
subset and network, a roofline estimate of exemplars/s on one H100 and one H200, and the
GPU-hours and hosts that EFT's datasets and 10M exemplars need.

    python -m experiments.capacity.capacity                   # every cell (~40 compilations)
    python -m experiments.capacity.capacity --networks bundled --lowerings vmap

Nothing runs: each step is lowered from abstract slots and compiled for the CPU, and only the
compiled program's cost analysis (FLOPs, bytes accessed) and memory analysis are read. Writes
`capacity.md` and `capacity.json` under --out (this folder by default).

Per exemplar-iteration costs: a vmapped step costs B slot-iterations. XLA's cost analysis counts
a while loop's body once, so a `map` or `chunked` step is compiled at two slot counts B1 < B2:
the part outside the loop grows with B (slope a), the body is one slot (map) or one chunk, and a
slot-iteration costs a + body / slots-per-body. An exemplar costs its put into a slot (a fresh
copy of the weights and Adam state; with a frozen prefix, that prefix's forward pass) plus the
mean iterations per exemplar times a slot-iteration.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from eft_jax import body, fitting
from eft_jax.config import load_config
from eft_jax.nets import Regressor, bundled_regressor, trained_crop_size
from experiments.accelerators import ACCELERATORS, ARITHMETIC, roofline_seconds

REPO = Path(__file__).resolve().parents[2]
STUDY = Path(__file__).resolve().parent

SUBSETS = ("all", "backbone", "layer3+", "layer4+head", "head", "decoders")
LOWERINGS = ("vmap", "vmap+im2col", "map", "map+im2col", "chunked", "chunked+im2col")
# Slot counts each lowering is compiled at (two for the looped ones, see the docstring).
SLOT_COUNTS = {"vmap": (8,), "map": (2, 4), "chunked": (8, 16)}
CHUNK_SIZE = 4  # configs/eft_default.py chunk_size

# facebookresearch/eft README.md, "Currently available EFT fitting outputs": sample counts as
# published (rounded to thousands). Its table pairs the counts with the file names the other way
# round from its own notes below it; the notes (All: 6 or more keypoints annotated, Part: 12 or
# more) and the paper make All the larger set.
DATASETS = (
    ("COCO 2014 All (6+ keypoints)", 79_000),
    ("COCO 2014 Part (12+ keypoints)", 28_000),
    ("MPII", 14_000),
    ("LSPet", 7_000),
    ("EFT's four released sets", 79_000 + 28_000 + 14_000 + 7_000),
    ("10M exemplars", 10_000_000),
)
RANGE = ("exemplars_per_s", "optimistic", "pessimistic")
GPUS_PER_HOST = 8  # an HGX H100 / H200 board
HOURS = 24.0
# Share of HBM a JAX process may fill (XLA_PYTHON_CLIENT_MEM_FRACTION defaults to 0.75).
MEMORY_FRACTION = 0.75


@dataclasses.dataclass(frozen=True)
class Network:
    name: str
    description: str
    crop_size: int
    mean_iterations: float
    iterations_source: str


NETWORKS = {
    "resnet50": Network(
        "resnet50",
        "SPIN's regressor: ResNet-50 + HMR head, random weights",
        224,
        20.0,
        "EFT's recipe (configs/eft_default.py: lr 5e-6, at most 20 iterations, stop under 1e-4): "
        "the cap. Recorded: 19.7 of 20 with this recipe on the bundled regressor "
        "(experiments/compare_fitting, 'EFT, paper recipe', 500 held-out humans, 3.6 % converged); "
        "no ResNet-50 with SPIN's weights has been fitted here, so 20 is an upper bound on its work",
    ),
    "bundled": Network(
        "bundled",
        "the bundled regressor (ResNet-18 / 4 widths, 0.9M parameters)",
        128,
        40.4,
        "its own recipe (lr 1e-4, at most 100 iterations): 40.4 recorded in "
        "experiments/compare_fitting/compare_bundled_v2_lifelike.md (500 held-out lifelike "
        "humans, 95.8 % converged)",
    ),
}


def build_network(name: str):
    """(regressor, variables, crop size) of a network; ResNet-50's weights are random normal (the
    cost analysis reads shapes only; no checkpoint is downloaded)."""
    if name == "bundled":
        restored = bundled_regressor()
        return restored.regressor, restored.variables, trained_crop_size(restored.record)
    regressor = Regressor()
    rng = np.random.default_rng(0)
    abstract = regressor.abstract_variables(NETWORKS[name].crop_size)
    variables = jax.tree.map(
        lambda s: jnp.asarray(rng.normal(0.0, 0.01, s.shape).astype(s.dtype)), abstract
    )
    return regressor, variables, NETWORKS[name].crop_size


def tree_bytes(tree) -> int:
    return sum(int(np.prod(x.shape)) * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(tree))


def make_engine(network, trainable, lowering, dtype, batch):
    regressor, variables, crop, model = network
    config = load_config(
        REPO / "configs" / "eft_default.py",
        [f"trainable={trainable}", f"compute_dtype={dtype}", f"chunk_size={CHUNK_SIZE}"],
    )
    return fitting.EftEngine(
        regressor, variables, model, config, crop_size=crop, batch_size=batch, lowering=lowering
    )


def compiled_costs(lowered) -> dict:
    compiled = lowered.compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    unfused = lowered.cost_analysis()
    memory = compiled.memory_analysis()
    return dict(
        flops=float(cost["flops"]),
        bytes=float(cost["bytes accessed"]),
        unfused_bytes=float(unfused["bytes accessed"]),
        temp=float(memory.temp_size_in_bytes) if memory is not None else float("nan"),
    )


def step_costs(network, trainable, lowering, dtype) -> dict:
    """Per slot-iteration FLOPs and bytes (compiled and unfused), and the memory of one slot."""
    mapping = lowering.partition("+")[0]
    counts = SLOT_COUNTS[mapping]
    measured = []
    for batch in counts:
        engine = make_engine(network, trainable, lowering, dtype, batch)
        slots = jax.eval_shape(engine._empty, engine.base)
        costs = compiled_costs(engine._step.lower(slots, engine.frozen, engine.numbers))
        costs["slot_state"] = tree_bytes(slots)
        measured.append((batch, costs))
    per_slot = {}
    for key in ("flops", "bytes", "unfused_bytes"):
        if mapping == "vmap":
            batch, costs = measured[0]
            per_slot[key] = costs[key] / batch
        else:
            (b1, c1), (b2, c2) = measured
            outside = (c2[key] - c1[key]) / (b2 - b1)  # grows with B, outside the loop
            body = c1[key] - outside * b1  # one loop body (and constants)
            per_slot[key] = outside + body / (1 if mapping == "map" else CHUNK_SIZE)
    batch, costs = measured[-1]
    state = costs["slot_state"] / batch
    trainable_bytes = tree_bytes(engine.base)
    return dict(
        per_slot,
        batch=batch,
        trainable_params=trainable_bytes // 4,
        weights_and_moments=3 * trainable_bytes,
        slot_state=state,
        activations=costs["temp"] / batch,
        memory_per_slot=state + costs["temp"] / batch,
        shared=tree_bytes((engine.base, engine.frozen)),
        # No fusion can remove these passes over a slot's trainable weights: the forward and the
        # backward read them, the backward writes their gradient, Adam reads weights, gradient
        # and both moments and writes weights and moments back.
        floor_bytes=10 * trainable_bytes + tree_bytes(slots.images) / batch,
        entry=engine.entry,
    )


def put_costs(network, trainable, dtype, batch=8) -> dict:
    """Per exemplar FLOPs and bytes of putting it into a slot (weights and Adam state reset; the
    frozen prefix's forward pass when one is cached)."""
    engine = make_engine(network, trainable, "vmap", dtype, batch)
    crop = network[2]
    slots = jax.eval_shape(engine._empty, engine.base)
    lowered = engine._put_exemplars.lower(
        slots,
        engine.base,
        engine.frozen,
        jax.ShapeDtypeStruct((batch,), jnp.int32),
        jax.ShapeDtypeStruct((batch, crop, crop, 3), jnp.float32),
        jax.ShapeDtypeStruct((batch, 49, 3), jnp.float32),
        None,  # camera=crop: no full-frame cameras travel with the exemplars
    )
    costs = compiled_costs(lowered)
    return {key: costs[key] / batch for key in ("flops", "bytes", "unfused_bytes")}


def estimate(step: dict, put: dict, iterations: float, dtype: str) -> dict:
    """Roofline exemplars/s per accelerator, with the bracket from the step's bytes floor
    (optimistic; the put, a batched forward pass of shared weights, keeps its compiled bytes)
    and the unfused programs' bytes (pessimistic)."""
    flops = put["flops"] + iterations * step["flops"]

    def rate(step_bytes, put_bytes, accelerator, arithmetic=ARITHMETIC[dtype]):
        moved = put_bytes + iterations * step_bytes
        return 1.0 / roofline_seconds(flops, moved, accelerator, arithmetic)

    rates = {}
    for accelerator in ACCELERATORS:
        usable = accelerator.memory_gb * 1e9 * MEMORY_FRACTION - step["shared"]
        rates[accelerator.name] = dict(
            exemplars_per_s=rate(step["bytes"], put["bytes"], accelerator),
            optimistic=rate(step["floor_bytes"], put["bytes"], accelerator),
            pessimistic=rate(step["unfused_bytes"], put["unfused_bytes"], accelerator),
            plain_fp32_exemplars_per_s=rate(step["bytes"], put["bytes"], accelerator, "fp32"),
            max_slots=int(usable // step["memory_per_slot"]),
        )
    return rates


def cells(networks, subsets, lowerings, bfloat16: bool):
    """(network, trainable, lowering, dtype) to analyse, most important first: the GPU default
    (vmap) for every subset, the CPU default (vmap+im2col) and bfloat16 for EFT's recipe ("all"),
    then the looped lowerings for EFT's recipe. Each compilation takes ~0.5-2 min of a CPU core
    (ResNet-50); the full cross product would take hours."""
    for network in networks:
        for trainable in subsets:
            if "vmap" in lowerings:
                yield network, trainable, "vmap", "float32"
        if "all" in subsets:
            if "vmap+im2col" in lowerings:
                yield network, "all", "vmap+im2col", "float32"
            if bfloat16 and "vmap" in lowerings:
                yield network, "all", "vmap", "bfloat16"
    for network in networks:
        for lowering in lowerings:
            if not lowering.startswith("vmap") and "all" in subsets:
                yield network, "all", lowering, "float32"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--networks", nargs="+", default=list(NETWORKS), choices=list(NETWORKS))
    parser.add_argument("--subsets", nargs="+", default=list(SUBSETS), choices=list(SUBSETS))
    parser.add_argument("--lowerings", nargs="+", default=list(LOWERINGS), choices=list(LOWERINGS))
    parser.add_argument("--no-bfloat16", action="store_true", help="skip the bfloat16 cell")
    parser.add_argument(
        "--budget-s", type=float, default=None, help="start no new cell after this many seconds"
    )
    parser.add_argument("--out", default=str(STUDY))
    parser.add_argument(
        "--from-json",
        help="rewrite the tables from a saved capacity.json (estimates recomputed), compiling nothing",
    )
    args = parser.parse_args()
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        write(Path(args.out), saved["rows"], saved["seconds"], saved["jax"])
        return
    began = time.perf_counter()
    model = body.load()
    built = {}
    puts = {}
    rows = []
    for name, trainable, lowering, dtype in cells(
        args.networks, args.subsets, args.lowerings, not args.no_bfloat16
    ):
        if args.budget_s is not None and time.perf_counter() - began > args.budget_s:
            print(f"time budget spent: {name} {trainable} {lowering} {dtype} not run", flush=True)
            continue
        if name not in built:
            built[name] = (*build_network(name), model)
        start = time.perf_counter()
        step = step_costs(built[name], trainable, lowering, dtype)
        if (name, trainable, dtype) not in puts:
            puts[name, trainable, dtype] = put_costs(built[name], trainable, dtype)
        rows.append(
            dict(
                network=name,
                trainable=trainable,
                lowering=lowering,
                dtype=dtype,
                step=step,
                put=puts[name, trainable, dtype],
                seconds=time.perf_counter() - start,
            )
        )
        print(
            f"{name} {trainable} {lowering} {dtype}: {step['flops'] / 1e9:.3g} GFLOP, "
            f"{step['bytes'] / 1e9:.3g} GB per slot-iteration ({rows[-1]['seconds']:.0f} s)",
            flush=True,
        )
        # partial results kept
        write(Path(args.out), rows, time.perf_counter() - began, jax.__version__, quiet=True)
    write(Path(args.out), rows, time.perf_counter() - began, jax.__version__)


def plan_rows(rows):
    """The rows the GPU-hours table is made of: the GPU default (vmap, float32) per network for
    EFT's recipe and for the cheapest subset that keeps the backbone trainable from layer 4."""
    wanted = [("all", "vmap", "float32"), ("layer4+head", "vmap", "float32")]
    wanted += [("all", "vmap", "bfloat16"), ("head", "vmap", "float32")]
    for row in rows:
        if (row["trainable"], row["lowering"], row["dtype"]) in wanted:
            yield row


def write(out: Path, rows, seconds, jax_version, quiet=False):
    """capacity.md and capacity.json under `out`; the estimates are computed here, from each
    row's costs and the network's mean iterations."""
    names = [a.name for a in ACCELERATORS]
    for row in rows:
        row["mean_iterations"] = NETWORKS[row["network"]].mean_iterations
        row["estimate"] = estimate(row["step"], row["put"], row["mean_iterations"], row["dtype"])
    done = {(r["network"], r["trainable"], r["lowering"], r["dtype"]) for r in rows}
    missing = [c for c in cells(NETWORKS, SUBSETS, LOWERINGS, True) if c not in done]
    lines = [
        f"Capacity plan from XLA's CPU cost analysis (jax {jax_version}); {seconds:.0f} s of "
        "compiling. `python -m experiments.capacity.capacity`",
        "",
        "Per slot-iteration costs (one forward + backward + Adam step of one exemplar), memory per "
        "slot, and the roofline estimate of exemplars/s (put into a slot + mean iterations; "
        "float32 at TF32 peak, bfloat16 at BF16 peak; range: over the unfused bytes .. over the bytes' floor):",
        "",
        "| network | trainable | lowering | dtype | entry | trainable params | GFLOP | GB (CPU-fused) "
        "| GB floor | GB unfused | MiB / slot (state + activations) "
        + "".join(f"| {n} exemplars/s (range) | {n} slots " for n in names)
        + "|",
        "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|" + "---:|---:|" * len(names),
    ]
    for row in rows:
        step = row["step"]
        memory = (
            f"{step['memory_per_slot'] / 2**20:.0f} ({step['slot_state'] / 2**20:.0f} + "
            f"{step['activations'] / 2**20:.0f})"
        )
        cells_ = "".join(
            f"| {e['exemplars_per_s']:.1f} ({e['pessimistic']:.1f}..{e['optimistic']:.1f}) "
            f"| {e['max_slots']} "
            for e in row["estimate"].values()
        )
        lines.append(
            f"| {row['network']} | {row['trainable']} | {row['lowering']} | {row['dtype']} "
            f"| {step['entry']} | {step['trainable_params'] / 1e6:.2f}M | {step['flops'] / 1e9:.3g} "
            f"| {step['bytes'] / 1e9:.3g} | {step['floor_bytes'] / 1e9:.3g} "
            f"| {step['unfused_bytes'] / 1e9:.3g} | {memory} {cells_}|"
        )
    lines += [
        "",
        f"GPU-hours, and GPUs / hosts ({GPUS_PER_HOST} GPUs each) to finish in {HOURS:.0f} h, at "
        "the roofline estimate (lowering vmap, the GPU default):",
        "",
        "| network | trainable | dtype | mean iterations | dataset | exemplars "
        + "".join(f"| {n} GPU-hours (range) | {n} GPUs / hosts in a day (slow end) " for n in names)
        + "|",
        "|---|---|---|---:|---|---:|" + "---:|---:|" * len(names),
    ]
    for row in plan_rows(rows):
        for dataset, count in DATASETS:
            cells_ = ""
            for estimate_ in row["estimate"].values():
                hours = {k: count / estimate_[k] / 3600 for k in RANGE}
                gpus = {k: max(1, math.ceil(h / HOURS)) for k, h in hours.items()}
                cells_ += (
                    f"| {hours['exemplars_per_s']:.3g} ({hours['optimistic']:.2g}.."
                    f"{hours['pessimistic']:.2g}) | {gpus['exemplars_per_s']} / "
                    f"{math.ceil(gpus['exemplars_per_s'] / GPUS_PER_HOST)} "
                    f"({gpus['pessimistic']} / {math.ceil(gpus['pessimistic'] / GPUS_PER_HOST)}) "
                )
            lines.append(
                f"| {row['network']} | {row['trainable']} | {row['dtype']} | "
                f"{row['mean_iterations']:g} | {dataset} | {count:,} {cells_}|"
            )
    if missing:
        lines += ["", "Not in this run: " + "; ".join(" ".join(c) for c in missing) + "."]
    lines += ["", "Mean iterations per exemplar:"]
    lines += [
        f"- {n.name}: {n.mean_iterations:g}, {n.iterations_source}." for n in NETWORKS.values()
    ]
    table = "\n".join(lines) + "\n"
    if not quiet:
        print(table)
    out.mkdir(parents=True, exist_ok=True)
    (out / "capacity.md").write_text(table)
    record = dict(
        accelerators=[dataclasses.asdict(a) for a in ACCELERATORS],
        datasets=DATASETS,
        networks={k: dataclasses.asdict(v) for k, v in NETWORKS.items()},
        rows=rows,
        seconds=seconds,
        jax=jax_version,
    )
    (out / "capacity.json").write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
