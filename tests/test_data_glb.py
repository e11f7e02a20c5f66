"""glTF binary export: exact round trip, the GLB layout the spec asks for (read back here with an
independent little parser), POSITION bounds, unit area-weighted normals, strict reading."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from eft_jax import body
from eft_jax.formats.glb_file import read_glb, write_glb

# A unit cube, 12 triangles wound counter-clockwise seen from outside.
CUBE_VERTICES = np.array(
    [[x, y, z] for x in (0.0, 1.0) for y in (0.0, 1.0) for z in (0.0, 1.0)], np.float64
)  # index = 4 x + 2 y + z
CUBE_FACES = np.array(
    [
        [0, 1, 3],
        [0, 3, 2],  # x = 0
        [4, 6, 7],
        [4, 7, 5],  # x = 1
        [0, 4, 5],
        [0, 5, 1],  # y = 0
        [2, 3, 7],
        [2, 7, 6],  # y = 1
        [0, 2, 6],
        [0, 6, 4],  # z = 0
        [1, 5, 7],
        [1, 7, 3],  # z = 1
    ]
)


def parse(path):
    """(header fields, [(chunk type, raw chunk bytes)], JSON document) of a .glb file."""
    data = path.read_bytes()
    magic, version, total = data[:4], *struct.unpack_from("<II", data, 4)
    chunks, position = [], 12
    while position < len(data):
        length, kind = struct.unpack_from("<II", data, position)
        chunks.append((kind, data[position + 8 : position + 8 + length]))
        position += 8 + length
    return (magic, version, total, len(data)), chunks, json.loads(chunks[0][1])


def attribute(path, name):
    _, chunks, document = parse(path)
    primitive = document["meshes"][0]["primitives"][0]
    spec = document["accessors"][primitive["attributes"][name]]
    view = document["bufferViews"][spec["bufferView"]]
    return np.frombuffer(chunks[1][1], "<f4", spec["count"] * 3, view["byteOffset"]).reshape(-1, 3)


def test_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(0)
    vertices = rng.normal(size=(50, 3))  # float64 in: stored as float32
    faces = rng.integers(0, 50, size=(70, 3))
    colors = rng.uniform(size=(50, 3))
    path = write_glb(tmp_path / "sub" / "mesh.glb", vertices, faces, vertex_colors=colors)
    v, f, c = read_glb(path)
    assert v.dtype == np.float32 and np.array_equal(v, vertices.astype(np.float32))
    assert np.array_equal(f, faces)
    assert np.array_equal(c, colors.astype(np.float32))
    assert read_glb(write_glb(tmp_path / "plain.glb", vertices, faces, normals=False))[2] is None


def test_uint8_colors_are_stored_as_floats(tmp_path):
    colors = np.array([[0, 128, 255]] * 8, np.uint8)
    _, _, c = read_glb(
        write_glb(tmp_path / "cube.glb", CUBE_VERTICES, CUBE_FACES, vertex_colors=colors)
    )
    np.testing.assert_array_equal(c, colors / np.float32(255.0))


def test_body_mesh_round_trip(tmp_path):
    model = body.load()
    vertices = np.asarray(
        body.forward(model, np.tile(np.eye(3), (24, 1, 1)), np.zeros(10)).vertices
    )
    v, f, _ = read_glb(write_glb(tmp_path / "body.glb", vertices, np.asarray(model.faces)))
    assert np.array_equal(v, vertices.astype(np.float32)) and np.array_equal(
        f, np.asarray(model.faces)
    )


def test_layout_follows_the_glb_spec(tmp_path):
    path = write_glb(
        tmp_path / "cube.glb", CUBE_VERTICES, CUBE_FACES, vertex_colors=np.full((8, 3), 0.5)
    )
    (magic, version, total, size), chunks, document = parse(path)
    assert (magic, version, total) == (b"glTF", 2, size)
    assert [kind for kind, _ in chunks] == [0x4E4F534A, 0x004E4942]  # 'JSON', 'BIN\0'
    assert all(len(raw) % 4 == 0 for _, raw in chunks)
    raw_json, raw_bin = chunks[0][1], chunks[1][1]
    text = raw_json.decode("utf-8")
    assert set(text[len(text.rstrip(" ")) :]) <= {" "} and text.rstrip(" ").endswith("}")
    byte_length = document["buffers"][0]["byteLength"]
    assert len(raw_bin) == byte_length + (-byte_length % 4) and not raw_bin[byte_length:].strip(
        b"\0"
    )

    assert document["asset"] == {"version": "2.0", "generator": "eft-jax"}
    primitive = document["meshes"][0]["primitives"][0]
    assert set(primitive["attributes"]) == {"POSITION", "NORMAL", "COLOR_0"}
    indices = document["accessors"][primitive["indices"]]
    assert (indices["componentType"], indices["type"], indices["count"]) == (5125, "SCALAR", 36)
    for view in document["bufferViews"]:
        assert (
            view["byteOffset"] % 4 == 0 and view["byteOffset"] + view["byteLength"] <= byte_length
        )
    position = document["accessors"][primitive["attributes"]["POSITION"]]
    assert (position["componentType"], position["type"], position["count"]) == (5126, "VEC3", 8)


def test_position_bounds(tmp_path):
    vertices = np.random.default_rng(1).normal(size=(30, 3)) * [1.0, 2.0, 3.0]
    path = write_glb(tmp_path / "mesh.glb", vertices, [[0, 1, 2]])
    _, _, document = parse(path)
    position = document["accessors"][
        document["meshes"][0]["primitives"][0]["attributes"]["POSITION"]
    ]
    stored = vertices.astype(np.float32)
    # Exactly the float32 extremes: validators reject bounds that differ from the data.
    assert np.array_equal(np.float32(position["min"]), stored.min(axis=0))
    assert np.array_equal(np.float32(position["max"]), stored.max(axis=0))


def test_normals_are_unit_area_weighted_and_outward(tmp_path):
    normals = attribute(write_glb(tmp_path / "cube.glb", CUBE_VERTICES, CUBE_FACES), "NORMAL")
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-6)
    # A corner touches one or two triangles of each of its three sides, so its normal leans to
    # the sides with more area there: compare with a direct area-weighted sum.
    expected = np.zeros((8, 3))
    for a, b, c in CUBE_FACES:
        n = np.cross(CUBE_VERTICES[b] - CUBE_VERTICES[a], CUBE_VERTICES[c] - CUBE_VERTICES[a])
        expected[[a, b, c]] += n
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(normals, expected, atol=1e-6)
    assert (np.sum(normals * (CUBE_VERTICES - 0.5), axis=1) > 0).all()

    # A big and a small triangle meeting at vertex 0 at a right angle: the big one dominates.
    vertices = np.array([[0, 0, 0], [4, 0, 0], [0, 4, 0], [0, 0, 1], [1, 0, 0], [9, 9, 9]], float)
    normals = attribute(write_glb(tmp_path / "two.glb", vertices, [[0, 1, 2], [0, 3, 4]]), "NORMAL")
    big, small = np.array([0.0, 0.0, 1.0]), np.array([0.0, 1.0, 0.0])  # areas 8 and 0.5
    np.testing.assert_allclose(normals[0], (16 * big + small) / np.hypot(16, 1), atol=1e-6)
    # Vertex 5 belongs to no triangle: still a unit normal, as glTF requires.
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-6)


def test_truncated_or_foreign_files_raise(tmp_path):
    data = write_glb(tmp_path / "cube.glb", CUBE_VERTICES, CUBE_FACES).read_bytes()
    cases = {
        "truncated": data[:-8],
        "header_only": data[:12],
        "tiny": data[:6],
        "magic": b"gltf" + data[4:],
        "version": data[:4] + struct.pack("<I", 1) + data[8:],
    }
    for name, broken in cases.items():
        path = tmp_path / f"{name}.glb"
        path.write_bytes(broken)
        with pytest.raises(ValueError, match=f"{name}.glb"):
            read_glb(path)
    # Consistent lengths but a chunk that runs past the end of the file.
    bad_chunk = bytearray(data)
    struct.pack_into("<I", bad_chunk, 12, len(data))
    (tmp_path / "chunk.glb").write_bytes(bytes(bad_chunk))
    with pytest.raises(ValueError, match="past the end"):
        read_glb(tmp_path / "chunk.glb")


@pytest.mark.parametrize(
    "vertices, faces, colors, message",
    [
        (CUBE_VERTICES[:, :2], CUBE_FACES, None, "vertices"),
        (CUBE_VERTICES * np.nan, CUBE_FACES, None, "finite"),
        (CUBE_VERTICES, CUBE_FACES + 1, None, "do not exist"),
        (CUBE_VERTICES, CUBE_FACES.astype(float), None, "integers"),
        (CUBE_VERTICES, CUBE_FACES, np.full((8, 3), 2.0), r"\[0, 1\]"),
        (CUBE_VERTICES, CUBE_FACES, np.zeros((7, 3)), "shape"),
    ],
)
def test_bad_input_is_rejected(tmp_path, vertices, faces, colors, message):
    with pytest.raises(ValueError, match=message):
        write_glb(tmp_path / "bad.glb", vertices, faces, vertex_colors=colors)
    assert not (tmp_path / "bad.glb").exists()
