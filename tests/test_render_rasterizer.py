"""The JAX rasteriser against a slow, obviously correct numpy reference."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eft_jax.render import interpolate, rasterize, required_capacity

pytestmark = pytest.mark.fast_compiles

EDGE_TOL = 1e-3


def reference_rasterize(xy, depth, faces, height, width):
    """Loop over pixels and triangles: point-in-triangle by barycentrics, nearest depth wins."""
    xy = np.asarray(xy, np.float64)
    depth = np.asarray(depth, np.float64)
    tri_id = np.full((height, width), -1, np.int64)
    zbuf = np.full((height, width), np.inf)
    bary = np.zeros((height, width, 3))
    ambiguous = np.zeros((height, width), bool)
    second = np.full((height, width), np.inf)
    for i in range(height):
        for j in range(width):
            p = np.array([j + 0.5, i + 0.5])
            for t, (a, b, c) in enumerate(faces):
                pa, pb, pc = xy[a], xy[b], xy[c]
                area = (pb[0] - pa[0]) * (pc[1] - pa[1]) - (pc[0] - pa[0]) * (pb[1] - pa[1])
                if abs(area) < 1e-10:
                    continue
                w0 = ((pc[0] - pb[0]) * (p[1] - pb[1]) - (pc[1] - pb[1]) * (p[0] - pb[0])) / area
                w1 = ((pa[0] - pc[0]) * (p[1] - pc[1]) - (pa[1] - pc[1]) * (p[0] - pc[0])) / area
                w2 = 1.0 - w0 - w1
                w = np.array([w0, w1, w2])
                # Distance-like edge test: barycentric scaled by the triangle's size.
                if np.min(np.abs(w)) * np.sqrt(abs(area)) < EDGE_TOL * 10 and np.min(w) > -0.01:
                    ambiguous[i, j] = True
                if np.min(w) < 0:
                    continue
                z = w @ depth[[a, b, c]]
                if z < zbuf[i, j]:
                    second[i, j] = zbuf[i, j]
                    zbuf[i, j], tri_id[i, j], bary[i, j] = z, t, w
                elif z < second[i, j]:
                    second[i, j] = z
    with np.errstate(invalid="ignore"):
        ambiguous |= (second - zbuf) < 1e-4
    return tri_id, bary, zbuf, ambiguous


def random_mesh(seed, num_vertices=24, num_faces=16, height=20, width=28):
    rng = np.random.default_rng(seed)
    xy = rng.uniform([-4, -4], [width + 4, height + 4], size=(num_vertices, 2)).astype(np.float32)
    depth = rng.uniform(1.0, 5.0, size=num_vertices).astype(np.float32)
    faces = np.stack([rng.choice(num_vertices, 3, replace=False) for _ in range(num_faces)])
    return xy, depth, faces.astype(np.int32)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_matches_reference(seed):
    height, width = 20, 28
    xy, depth, faces = random_mesh(seed, height=height, width=width)
    capacity = required_capacity(xy, depth, faces, height, width)
    frags = rasterize(jnp.asarray(xy), jnp.asarray(depth), faces, height, width, capacity=capacity)
    assert int(frags.num_candidates) <= capacity
    ref_id, ref_bary, ref_z, ambiguous = reference_rasterize(xy, depth, faces, height, width)
    keep = ~ambiguous
    assert keep.mean() > 0.7
    got_id = np.asarray(frags.triangle_id)
    np.testing.assert_array_equal(got_id[keep], ref_id[keep])
    np.testing.assert_array_equal((got_id >= 0)[keep], (ref_id >= 0)[keep])
    covered = keep & (ref_id >= 0)
    assert covered.sum() > 20
    np.testing.assert_allclose(np.asarray(frags.depth)[covered], ref_z[covered], atol=1e-4)
    np.testing.assert_allclose(
        np.asarray(frags.barycentrics)[covered], ref_bary[covered], atol=1e-4
    )
    background = keep & (ref_id < 0)
    assert np.all(np.isinf(np.asarray(frags.depth)[background]))
    assert np.all(np.asarray(frags.barycentrics)[background] == 0)


def test_known_square():
    # A square with corners (8, 4) and (24, 20) in pixel coordinates covers the pixel centres
    # 8.5 .. 23.5 across and 4.5 .. 19.5 down: rows 4-19, columns 8-23.
    xy = np.array([[8, 4], [24, 4], [24, 20], [8, 20]], np.float32)
    depth = np.full(4, 2.5, np.float32)
    faces = np.array([[0, 1, 2], [0, 2, 3]], np.int32)
    frags = rasterize(xy, depth, faces, 32, 32)
    expected = np.zeros((32, 32), bool)
    expected[4:20, 8:24] = True
    np.testing.assert_array_equal(np.asarray(frags.triangle_id) >= 0, expected)
    np.testing.assert_allclose(np.asarray(frags.depth)[expected], 2.5)
    np.testing.assert_allclose(np.asarray(frags.barycentrics).sum(-1)[expected], 1.0, atol=1e-6)
    # Upper-right half (above the diagonal) is triangle 0, lower-left triangle 1.
    tid = np.asarray(frags.triangle_id)
    assert tid[4, 23] == 0 and tid[19, 8] == 1


def test_nearest_wins_and_ties_go_to_lower_id():
    xy = np.array([[0, 0], [16, 0], [0, 16]], np.float32)
    faces = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8]], np.int32)
    xy9 = np.concatenate([xy, xy, xy])
    depth = np.array([3, 3, 3, 1, 1, 1, 1, 1, 1], np.float32)  # 1 and 2 tie in front of 0
    frags = rasterize(xy9, depth, faces, 16, 16)
    tid = np.asarray(frags.triangle_id)
    assert tid[2, 2] == 1
    assert set(np.unique(tid)) == {-1, 1}


def test_interpolate_vertex_values():
    xy = np.array([[0, 0], [32, 0], [0, 32]], np.float32)
    values = np.array([[0.0], [32.0], [0.0]], np.float32)  # = u coordinate
    frags = rasterize(xy, np.ones(3, np.float32), np.array([[0, 1, 2]]), 16, 16)
    u = np.asarray(interpolate(frags, np.array([[0, 1, 2]]), values))[..., 0]
    cols = np.arange(16) + 0.5
    mask = np.asarray(frags.triangle_id) >= 0
    np.testing.assert_allclose(u[mask], np.broadcast_to(cols, (16, 16))[mask], atol=1e-4)


def three_meshes(height, width):
    """Three random meshes with the same faces: (3, V, 2) positions, (3, V) depths, faces."""
    meshes = [random_mesh(s, height=height, width=width) for s in range(3)]
    return np.stack([m[0] for m in meshes]), np.stack([m[1] for m in meshes]), meshes[0][2]


def test_vmap_equals_loop_and_jit():
    height, width = 20, 28
    xy, depth, faces = three_meshes(height, width)
    capacity = required_capacity(xy, depth, faces, height, width)
    fn = jax.jit(jax.vmap(lambda a, b: rasterize(a, b, faces, height, width, capacity=capacity)))
    batched = fn(xy, depth)
    single_fn = jax.jit(lambda a, b: rasterize(a, b, faces, height, width, capacity=capacity))
    for k in range(3):
        single = single_fn(xy[k], depth[k])
        for got, want in zip(batched, single):
            got, want = np.asarray(got[k]), np.asarray(want)
            if np.issubdtype(want.dtype, np.floating):  # the two programs may round differently
                np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
            else:  # the same triangle at every pixel, the same counts
                np.testing.assert_array_equal(got, want)


def test_overflow_is_reported():
    xy = np.array([[0, 0], [64, 0], [0, 64]], np.float32)
    frags = rasterize(xy, np.ones(3, np.float32), np.array([[0, 1, 2]]), 64, 64, capacity=100)
    assert int(frags.num_candidates) == 64 * 64 > 100


def test_degenerate_and_offscreen_triangles_are_ignored():
    xy = np.array([[1, 1], [5, 5], [9, 9], [-50, -50], [-40, -50], [-50, -40]], np.float32)
    frags = rasterize(xy, np.ones(6, np.float32), np.array([[0, 1, 2], [3, 4, 5]]), 12, 12)
    assert int(frags.num_candidates) == 0
    assert np.all(np.asarray(frags.triangle_id) == -1)


def test_rasterize_batch_map_equals_vmap():
    from eft_jax.render import rasterize_batch

    height, width = 20, 28
    xy, depth, faces = three_meshes(height, width)
    mapped = rasterize_batch(xy, depth, faces, height, width)
    vmapped = rasterize_batch(xy, depth, faces, height, width, method="vmap")
    # Random meshes intersect; at edges and near-ties in depth float rounding may pick either
    # triangle, so ids must agree exactly wherever the reference says the answer is unambiguous.
    np.testing.assert_allclose(np.asarray(mapped.depth), np.asarray(vmapped.depth), atol=1e-5)
    for k in range(3):
        ambiguous = reference_rasterize(xy[k], depth[k], faces, height, width)[3]
        np.testing.assert_array_equal(
            np.asarray(mapped.triangle_id[k])[~ambiguous],
            np.asarray(vmapped.triangle_id[k])[~ambiguous],
        )


def test_backface_culling():
    # Negative signed screen area = facing the camera (x right, y down, camera looks along +z).
    xy = np.array([[2, 2], [2, 14], [14, 2]], np.float32)  # (x1-x0)(y2-y0)-(x2-x0)(y1-y0) < 0
    depth = np.ones(3, np.float32)
    front = rasterize(xy, depth, np.array([[0, 1, 2]]), 16, 16, cull_backfaces=True)
    back = rasterize(xy, depth, np.array([[0, 2, 1]]), 16, 16, cull_backfaces=True)
    assert np.sum(np.asarray(front.triangle_id) >= 0) > 10
    assert np.all(np.asarray(back.triangle_id) == -1) and int(back.num_candidates) == 0
