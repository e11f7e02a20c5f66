"""Training an HMR regressor: the sources it learns from and their one sample (`sources`), SPIN's
masked losses (`losses`), deterministic batches and mixtures (`batches`), the data-parallel train
step and its validation by the evaluator of `eft_jax.eval` (`trainer`), HMR's adversarial prior
(`adversarial`). The job is `eft_jax.jobs.train` (`eft-jax train`)."""
