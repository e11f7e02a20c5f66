"""Training an HMR regressor: the sources it learns from and their one sample (`sources`), SPIN's
masked losses (`losses`), deterministic batches and mixtures (`batches`), the data-parallel train
step and evaluation (`trainer`), HMR's adversarial prior (`adversarial`), MPJPE / PA-MPJPE and
the other errors (`metrics`), the one evaluator (`evaluation`). The job is `eft_jax.jobs.train`
(`eft-jax train`)."""
