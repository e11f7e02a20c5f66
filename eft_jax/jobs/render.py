"""`eft-jax render`: pictures and meshes of the fits in an EFT JSON file (configs/render.py).

For every fit it writes `<image stem>_<annotId or exemplar_id>.png` ([crop | fit over the crop |
side view]) and the fitted mesh as `.obj` and `.glb`; see `eft_jax.eval.pictures`.
"""

from __future__ import annotations

import ml_collections

from eft_jax.config import ConfigError
from eft_jax.eval.pictures import RenderResult, draw_fits


def run_render(config: ml_collections.ConfigDict) -> RenderResult:
    missing = [field for field in ("fits", "images", "output_dir") if config.get(field) is None]
    if missing:
        raise ConfigError(f"render needs the config fields {missing} (--fits, --images, --out)")
    return draw_fits(
        config.fits,
        config.images,
        config.output_dir,
        body_model_path=config.body_model,
        limit=config.limit,
        crop_size=config.crop_size,
    )
