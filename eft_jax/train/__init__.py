"""Training an HMR regressor: SPIN's losses (`losses`), deterministic batches (`batches`), the
train step and evaluation (`trainer`), MPJPE / PA-MPJPE (`metrics`). The job is
`eft_jax.jobs.train` (`eft-jax train`)."""
