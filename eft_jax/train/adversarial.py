"""HMR's factorized adversarial prior (Kanazawa et al., CVPR 2018; akanazawa/hmr src/models.py
`Discriminator_separable_rotations`, src/trainer.py `setup_discriminator`).

The discriminator scores a body (pose without its root rotation, and shape) with 25 outputs:

- the 23 relative joint rotations, each a 3x3 matrix read as 9 numbers, pass through a common
  embedding shared by all joints (HMR's two 1x1 convolutions: 9 -> 32 -> 32, ReLU), then one
  linear output per joint (23 outputs);
- the 23 embeddings together, flattened, through 1024 -> 1024 (ReLU) -> 1: the whole pose;
- the betas through 10 -> 5 (ReLU) -> 1: the shape.

Least-squares GAN losses, as HMR computes them (sum over the 25 outputs, mean over samples):

    discriminator: mean sum (D(real) - 1)^2 + mean sum D(fake)^2
    regressor:     mean sum (D(fake) - 1)^2, times `adversarial.weight` (HMR's d_loss_weight)

Real samples (`MocapPrior`) are poses of the bundled mocap clips (`datasets/mocap_poses.py`: only
the clips the asset holds; the reserved evaluation clips are not in it), mirrored half the time and
every non-root joint perturbed as the synthetic humans are, with betas drawn like the synthetic
humans' (N(0, I) clipped to +-BETA_LIMIT). Fakes are the regressor's final prediction (HMR feeds
all three feedback iterations; eft-jax's regressor returns only the last). HMR declares a weight
decay on the discriminator but never adds it to the loss it minimises, so there is none here.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from eft_jax.body.mirror import mirror_pose
from eft_jax.datasets.mocap_poses import load_mocap_poses
from eft_jax.datasets.synthetic_body import BETA_LIMIT, JOINT_NOISE
from eft_jax.geometry import axis_angle_to_rotmat

NUM_RELATIVE_JOINTS = 23
NUM_OUTPUTS = NUM_RELATIVE_JOINTS + 2  # per joint, whole pose, shape


class PoseShapeDiscriminator(nn.Module):
    """(B, 23, 3, 3) relative joint rotations and (B, 10) betas -> (B, 25) scores (module docstring)."""

    @nn.compact
    def __call__(self, rotmats, betas):
        count = rotmats.shape[0]
        embedding = rotmats.reshape(count, NUM_RELATIVE_JOINTS, 9)
        embedding = nn.relu(nn.Dense(32, name="common_1")(embedding))
        embedding = nn.relu(nn.Dense(32, name="common_2")(embedding))
        joint_kernel = self.param(
            "per_joint_kernel", nn.initializers.lecun_normal(), (NUM_RELATIVE_JOINTS, 32, 1)
        )
        joint_bias = self.param("per_joint_bias", nn.initializers.zeros, (NUM_RELATIVE_JOINTS,))
        per_joint = jnp.einsum("bjf,jf->bj", embedding, joint_kernel[..., 0]) + joint_bias
        whole = embedding.reshape(count, -1)
        whole = nn.relu(nn.Dense(1024, name="whole_pose_1")(whole))
        whole = nn.relu(nn.Dense(1024, name="whole_pose_2")(whole))
        whole = nn.Dense(1, name="whole_pose_out")(whole)
        shape = nn.relu(nn.Dense(10, name="shape_1")(betas))
        shape = nn.relu(nn.Dense(5, name="shape_2")(shape))
        shape = nn.Dense(1, name="shape_out")(shape)
        return jnp.concatenate([per_joint, whole, shape], axis=-1)


def discriminator_losses(real_scores, fake_scores) -> tuple[jax.Array, jax.Array]:
    """(real, fake) terms of the discriminator's least-squares loss: mean over samples of the sum
    over the 25 outputs of (D(real) - 1)^2, and of D(fake)^2."""
    real = jnp.mean(jnp.sum((real_scores - 1.0) ** 2, axis=-1))
    fake = jnp.mean(jnp.sum(fake_scores**2, axis=-1))
    return real, fake


def regressor_adversarial_loss(fake_scores) -> jax.Array:
    """The regressor's least-squares term: mean over samples of the sum of (D(fake) - 1)^2."""
    return jnp.mean(jnp.sum((fake_scores - 1.0) ** 2, axis=-1))


class MocapPrior:
    """Real bodies for the discriminator, a pure function of (seed, step) (module docstring)."""

    def __init__(
        self,
        seed: int,
        joint_noise: float = JOINT_NOISE,
        beta_limit: float = BETA_LIMIT,
        num_betas: int = 10,
    ):
        poses, _ = load_mocap_poses()
        self.poses = np.concatenate([poses, mirror_pose(poses)]).astype(np.float32)
        self.seed = seed
        self.joint_noise = joint_noise
        self.beta_limit = beta_limit
        self.num_betas = num_betas

    def sample(self, step: int, count: int) -> dict:
        """{'prior_rotmats': (count, 23, 3, 3), 'prior_betas': (count, 10)} float32."""
        rng = np.random.default_rng([self.seed, step, 3])
        pose = self.poses[rng.integers(len(self.poses), size=count), 1:]
        axes = rng.standard_normal(pose.shape)
        axes /= np.linalg.norm(axes, axis=-1, keepdims=True)
        noise = axes * rng.uniform(0.0, self.joint_noise, pose.shape[:-1] + (1,))
        rotmats = np.asarray(axis_angle_to_rotmat(pose)) @ np.asarray(
            axis_angle_to_rotmat(noise.astype(np.float32))
        )
        betas = np.clip(
            rng.standard_normal((count, self.num_betas)), -self.beta_limit, self.beta_limit
        )
        return {
            "prior_rotmats": rotmats.astype(np.float32),
            "prior_betas": betas.astype(np.float32),
        }
