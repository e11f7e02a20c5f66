"""One command, one table: EFT over a grid of config fields on the same set of synthetic humans.

    python -m experiments.ablate.ablate --grid optimizer.learning_rate=5e-6,2e-5,5e-5,1e-4 max_iters=20,50
    python -m experiments.ablate.ablate --grid trainable=all,layer4+head,layer3+,head,backbone \\
        --set recipe=checkpoint
    python -m experiments.ablate.ablate --split validation --count 100 --grid ...     # for tuning

Each grid key is a field of configs/eft_default.py (dotted), each value parsed as a config
override; the table has one row per combination (the first key varies slowest). Every row starts
from the same config: EFT's paper recipe (`recipe=paper`) unless `--set recipe=checkpoint` starts
from the bundled regressor's tuned recipe; `--set key=value` fixes other fields for every row.
The default set is the held-out one (seeds from 30,000,000); tune only with `--split validation`
(seeds from 10,000,000), never on the held-out set. Writes experiments/ablate/ablate_<name>.md
and .csv (`--name`, default from the grid keys).

`--write-recipe` (only with `--split validation`) writes the best row into the bundled regressor's
metadata as its EFT recipe (`eft_recipe`: that row's settings and `--set` fields; the weights are
not touched), which `eft-jax fit` and `eft-jax demo` then use. The best row has the lowest mean
PA-MPJPE; rows within `--tie-mm` (2 mm) of it are tied, and the tie goes to the lowest 2D error.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

from eft_jax import nets
from eft_jax.config import default_config_path
from eft_jax.datasets.synthetic import STYLES
from eft_jax.fitting.recipe import RECIPE_KEY, resolve_config
from experiments.fitting_runs import (
    SPLITS,
    bundled_setup,
    describe_set,
    evaluation_set,
    run_eft,
    score,
    write_table,
)

STUDY = Path(__file__).resolve().parent


def parse_grid(items: list[str]) -> list[tuple[str, list[str]]]:
    grid = []
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not values:
            raise SystemExit(f"--grid entries are key=v1,v2,...; got {item!r}")
        grid.append((key.strip(), values.split(",")))
    return grid


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", nargs="+", required=True, help="key=v1,v2,... (config fields)")
    parser.add_argument("--set", nargs="*", default=[], help="key=value fixed for every row")
    parser.add_argument("--split", choices=sorted(SPLITS), default="heldout")
    parser.add_argument("--count", type=int, default=100, help="synthetic humans in the set")
    parser.add_argument(
        "--style", choices=STYLES, default="basic", help="synthetic style of the set"
    )
    parser.add_argument("--name", help="output name (experiments/ablate/ablate_<name>.md)")
    parser.add_argument(
        "--write-recipe", action="store_true", help="store the best row as the bundled recipe"
    )
    parser.add_argument(
        "--tie-mm",
        type=float,
        default=2.0,
        help="rows within this PA-MPJPE of the lowest are tied; the lowest 2D error wins",
    )
    args = parser.parse_args(argv)

    if args.write_recipe and args.split != "validation":
        raise SystemExit("--write-recipe chooses on validation data only: add --split validation")
    if args.write_recipe and any(o.replace(" ", "") == "recipe=checkpoint" for o in args.set):
        raise SystemExit("--write-recipe starts from the paper's recipe; drop recipe=checkpoint")
    grid = parse_grid(args.grid)
    name = args.name or "_".join(key.split(".")[-1] for key, _ in grid)
    restored, model, size = bundled_setup()
    data = evaluation_set(args.split, args.count, size, args.style)
    base = ["recipe=paper", *args.set]

    rows, settings = [], []
    for values in itertools.product(*(v for _, v in grid)):
        label = ", ".join(f"{key}={value}" for (key, _), value in zip(grid, values))
        overrides = base + [f"{key}={value}" for (key, _), value in zip(grid, values)]
        config = resolve_config(default_config_path("eft_default"), overrides, restored.record)
        tick = time.perf_counter()
        run = run_eft(label, restored.regressor, restored.variables, model, config, data, size)
        _, row = score(run, model, data)
        rows.append({"setting": label, **{k: v for k, v in row.items() if k != "method"}})
        settings.append([o for o in overrides if o.split("=", 1)[0].strip() != "recipe"])
        print(
            f"{label}: PA-MPJPE {row['pa_mpjpe_mm']:.1f} mm, 2D {row['mean_2d_px']:.2f} px "
            f"({time.perf_counter() - tick:.0f} s)",
            file=sys.stderr,
            flush=True,
        )

    command = "python -m experiments.ablate.ablate " + " ".join(
        (["--split", args.split] if args.split != "heldout" else [])
        + ["--count", str(args.count)]
        + (["--style", args.style] if args.style != "basic" else [])
        + ["--grid", *args.grid]
        + (["--set", *args.set] if args.set else [])
    )
    header = [
        f"# Ablation: {name}",
        "",
        f"{describe_set(args.split, args.count, args.style)}; bundled regressor and body; every row: {', '.join(base)} + its setting.",
        "2D px: LSP-14 keypoints at 224 px; MPJPE / PA-MPJPE / PVE in mm; time on this machine, batched, compilation excluded.",
    ]
    text = write_table(STUDY, f"ablate_{name}", header, rows, command, first="setting")
    print(text)
    if args.write_recipe:
        best = best_row(rows, args.tie_mm)
        write_recipe(
            settings[best],
            f"{command} (best: {rows[best]['setting']}; PA-MPJPE ties "
            f"within {args.tie_mm:g} mm broken by the 2D error)",
        )
    return 0


def best_row(rows: list[dict], tie_mm: float) -> int:
    """The row with the lowest mean PA-MPJPE, or, among the rows within `tie_mm` of it (differences
    a validation set of ~64 humans cannot resolve), the one with the lowest mean 2D error."""
    lowest = min(row["pa_mpjpe_mm"] for row in rows)
    tied = [i for i, row in enumerate(rows) if row["pa_mpjpe_mm"] <= lowest + tie_mm]
    return min(tied, key=lambda i: rows[i]["mean_2d_px"])


def write_recipe(overrides: list[str], source: str) -> dict:
    """Store `overrides` (key=value strings) as the bundled regressor's EFT recipe."""
    config = resolve_config(default_config_path("eft_default"), ["recipe=paper", *overrides], None)
    recipe = {}
    for override in overrides:
        key = override.split("=", 1)[0]
        node = config
        for part in key.split("."):
            node = node[part]
        recipe[key] = node
    record = nets.update_config_record(
        nets.BUNDLED_REGRESSOR_DIR, {RECIPE_KEY: recipe, "eft_recipe_source": source}
    )
    print(
        f"wrote {RECIPE_KEY} {record[RECIPE_KEY]} into {nets.BUNDLED_REGRESSOR_DIR}",
        file=sys.stderr,
    )
    return record


if __name__ == "__main__":
    sys.exit(main())
