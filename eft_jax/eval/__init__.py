"""Judging bodies against truth, for every method and job: the errors (`metrics`: MPJPE, PA-MPJPE,
PVE, facing, left/right swaps, posture), SPIN's benchmark protocols (`protocols`), the one
evaluator (`evaluation`), the held-out synthetic humans with their truth (`heldout`), and the
evaluators a config names (`evaluators.from_config`). Used by the demo, `eft-jax evaluate`,
training's validation and the experiments."""
