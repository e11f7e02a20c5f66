"""How many copies of the slots' weights the EFT engine's compiled step makes at each iteration,
with the step's compiler options (`engine.step_compiler_options`) and without: one JSON line.

    python tests/step_weight_copies.py      (run by tests/test_step_weight_copies.py)

The count is read from the optimized HLO of the step's while-loop body: the `copy` instructions
shaped like a slot-stacked weight. Run without the tests' XLA flags (tests/xla_flags.py): XLA's
older loop emitters, which the tests compile with, arrange the loop's buffers differently.
"""

from __future__ import annotations

import json
import re

import jax
import numpy as np
from tiny_eft import IMAGE_SIZE, eft_config, tiny_regressor

from eft_jax import fitting
from eft_jax.fitting import engine as engine_module


def weight_copies_in_the_loop(compiled_hlo: str, weight_shapes: set) -> int:
    body_name = re.search(r"body=%?([\w.\-]+)", compiled_hlo).group(1)
    start = re.search(rf"^%?{re.escape(body_name)} ", compiled_hlo, re.M).start()
    loop_body = compiled_hlo[start : compiled_hlo.index("\n}", start)]
    copied = re.findall(r"= f32\[([0-9,]*)\]\{[^}]*\} copy\(", loop_body)
    return sum(tuple(int(d) for d in dims.split(",")) in weight_shapes for dims in copied)


def main():
    regressor, variables, model = tiny_regressor()
    engine = fitting.EftEngine(
        regressor, variables, model, eft_config(["batch_size=2"]), crop_size=IMAGE_SIZE
    )
    slots = engine.empty_slots()
    lowered = engine._step.lower(slots, engine.frozen, engine.numbers, np.int32(2))
    shapes = {tuple(w.shape) for w in jax.tree.leaves(slots.params)}
    default_insertion = {option: False for option in engine_module.step_compiler_options()}
    print(
        json.dumps(
            {
                "with_options": weight_copies_in_the_loop(lowered.compile().as_text(), shapes),
                "without": weight_copies_in_the_loop(
                    lowered.compile(default_insertion).as_text(), shapes
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
