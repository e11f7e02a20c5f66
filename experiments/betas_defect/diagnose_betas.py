"""Why the bundled regressor's betas are worse than zero betas (docs/ARCHITECTURE.md, "Training").

    python -m experiments.betas_defect.diagnose_betas

Runs the bundled regressor on 96 held-out synthetic humans (validation seeds from 10,000,000) and
prints: its betas error against zero betas', per-component mean and correlation with the truth,
how far a unit of each shape component moves the joints, the 3D joint error of its predicted
pose with its own / zero / true betas, and the bodies' statures. Output of one run:
experiments/betas_defect/README.md.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np

from eft_jax import body, nets
from eft_jax.datasets.synthetic import make_samples
from eft_jax.eval.metrics import hip_centred
from eft_jax.geometry.crops import normalize_image

t = time.time()
model = body.load()
r = nets.bundled_regressor()
reg, var = r.regressor, r.variables
S = make_samples(range(10_000_000, 10_000_096), crop_size=128)
print("render", time.time() - t)
imgs = jnp.asarray(np.stack([normalize_image(i) for i in S["image"]]))
out = jax.jit(reg.apply)(var, imgs)
pb = np.asarray(out.betas)
gb = S["betas"]
print("betas mse pred", np.mean((pb - gb) ** 2), "zero", np.mean(gb**2))
print("per-comp mean pred", pb.mean(0).round(2))
print("per-comp std pred", pb.std(0).round(2))
print("per-comp mse", ((pb - gb) ** 2).mean(0).round(2))
print(
    "corr pred/gt per comp",
    [round(float(np.corrcoef(pb[:, k], gb[:, k])[0, 1]), 2) for k in range(10)],
)


# sensitivity of hip-centred GT joints to each beta (T-pose)
def J(b):
    return hip_centred(body.forward(model, jnp.zeros((1, 24, 3)), b[None]).spin49)[0, 25:]


jac = np.asarray(jax.jacfwd(J)(jnp.zeros(10)))  # (24,3,10)
print("rms joint motion per unit beta (mm)", (1000 * np.sqrt((jac**2).sum(1).mean(0))).round(1))


# 3D error with predicted pose and predicted/zero/gt betas
def err(rot, b):
    j = hip_centred(body.forward(model, rot, b).spin49)[:, 25:]
    return float(jnp.mean((j - hip_centred(jnp.asarray(S["joints3d_spin49"]))[:, 25:]) ** 2))


rot = out.rotmats
print(
    "3D mse: pred betas",
    err(rot, out.betas),
    "zero",
    err(rot, jnp.zeros_like(out.betas)),
    "gt",
    err(rot, jnp.asarray(gb)),
)


# body size: stature proxy = head top(slot?) extent in T-pose
def height(b):
    v = body.forward(model, jnp.zeros((len(b), 24, 3)), jnp.asarray(b)).vertices
    return np.asarray(v[..., 1].max(-1) - v[..., 1].min(-1))


hp, hg = height(pb), height(gb)
zero = height(np.zeros((1, 10)))[0]
corr = np.corrcoef(hp, hg)[0, 1]
print(f"T-pose height mean pred {hp.mean():.3f} gt {hg.mean():.3f} zero {zero:.3f} corr {corr:.2f}")
cam = np.asarray(out.camera)
print(
    "cam s pred mean",
    cam[:, 0].mean(),
    "gt",
    S["camera"][:, 0].mean(),
    "corr(s_pred/s_gt, hp/hg)",
    np.corrcoef(cam[:, 0] / S["camera"][:, 0], hp / hg)[0, 1],
)
