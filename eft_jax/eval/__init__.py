"""Judging bodies against truth, for every method and job: the errors (`metrics`: MPJPE, PA-MPJPE,
PVE, facing, left/right swaps, posture), SPIN's benchmark protocols (`protocols`), the one
evaluator (`evaluation`), the held-out synthetic humans with their truth (`heldout`), and the
evaluators a config names (`evaluators.from_config`). Used by the demo, `eft-jax evaluate`,
training's validation and the experiments.

What the jobs show of it: a regressor run over a benchmark (`benchmark_sources`, `benchmark_run`,
`benchmark_summary`: `eft-jax evaluate`), pictures of fits (`pictures`), Figure-1 strips
(`strips`) and a fit run's before/after report (`fit_report`: the demo)."""
