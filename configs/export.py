"""`eft-jax export`: a finished run's results as EFT JSON or SPIN's training .npz, streamed from its
result shards (eft_jax/jobs/export.py, docs/results.md). The command line's RUN, --format and
--out set the first three fields."""

import ml_collections


def get_config():
    config = ml_collections.ConfigDict()
    config.run = None  # the run: the EFT JSON path given to `fit --out`, or its .shards folder
    config.format = None  # "eft-json" or "spin-npz"
    config.out = None  # the file to write (EFT JSON parts are named after it)
    # EFT JSON past this many input exemplars is split into parts of this many, each a whole
    # EFT JSON file (<out stem>-00001-of-0000K.json), as EFT released one file per dataset;
    # 100,000 fits are about 0.7 GB of JSON. 0: always one file.
    config.part_size = 100_000
    # Leave out fits whose quality_score (docs/quality.md) is under this, or that have none; the
    # EFT JSON lists them under "skipped" with the reason. None: every fit.
    config.min_quality = ml_collections.config_dict.placeholder(float)
    config.image_prefix = None  # spin-npz: prefix of imgname; None: the run's (as fit --spin-npz)
    return config
