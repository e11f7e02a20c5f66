"""glTF 2.0 binary (.glb) export of a mesh: one file that web viewers, Blender and phones open,
with per-vertex normals (smooth shading) and optional per-vertex colours, which OBJ lacks.

Layout (glTF 2.0 spec, "GLB File Format Specification"): a 12-byte header (magic 'glTF',
version 2, total length), a JSON chunk padded with spaces to 4 bytes, a BIN chunk padded with
zeros. The BIN chunk holds, in order, POSITION, NORMAL, COLOR_0 (float32 VEC3 each) and the
triangle indices (uint32); every block is a multiple of 4 bytes, so each starts aligned.

Like `obj_file`, the writer stores the vertices as given: callers pass already-upright, y-up
vertices (glTF's convention), e.g. a fit's vertices turned by pi about x.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from eft_jax.render.shading import vertex_normals

MAGIC = b"glTF"
VERSION = 2
CHUNK_JSON = 0x4E4F534A  # b"JSON" little-endian
CHUNK_BIN = 0x004E4942  # b"BIN\0" little-endian
FLOAT = 5126
UNSIGNED_INT = 5125
ARRAY_BUFFER = 34962
ELEMENT_ARRAY_BUFFER = 34963
TRIANGLES = 4


def write_glb(
    path: str | Path, vertices, faces, *, vertex_colors=None, normals: bool = True
) -> Path:
    """Write vertices (V, 3) and triangles (F, 3, zero-based) as a .glb file.

    vertex_colors: (V, 3) floats in [0, 1] or uint8 (stored as float32 / 255), or None.
    normals: store area-weighted unit vertex normals, so viewers shade the body smoothly.
    """
    path = Path(path)
    vertices = np.asarray(vertices)
    faces = np.asarray(faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or len(vertices) == 0:
        raise ValueError(f"vertices must have shape (V, 3) with V >= 1; got {vertices.shape}")
    vertices = vertices.astype(np.float32)
    if not np.isfinite(vertices).all():
        raise ValueError("vertices must be finite")
    if faces.ndim != 2 or faces.shape[1] != 3 or not np.issubdtype(faces.dtype, np.integer):
        raise ValueError(
            f"faces must be integers with shape (F, 3); got {faces.shape} {faces.dtype}"
        )
    if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise ValueError("faces index vertices that do not exist")

    attributes = {"POSITION": vertices}
    if normals:
        attributes["NORMAL"] = _unit_normals(vertices, faces)
    if vertex_colors is not None:
        attributes["COLOR_0"] = _float_colors(vertex_colors, len(vertices))

    blocks, buffer_views, accessors = [], [], []
    offset = 0

    def add(array, target, accessor):
        nonlocal offset
        data = array.astype(array.dtype.newbyteorder("<")).tobytes()
        buffer_views.append(
            {"buffer": 0, "byteOffset": offset, "byteLength": len(data), "target": target}
        )
        accessors.append({"bufferView": len(buffer_views) - 1, **accessor})
        blocks.append(data)
        offset += len(data)  # float32 and uint32 blocks are multiples of 4 bytes
        return len(accessors) - 1

    primitive = {"attributes": {}, "mode": TRIANGLES}
    for name, array in attributes.items():
        accessor = {"componentType": FLOAT, "count": len(array), "type": "VEC3"}
        if name == "POSITION":  # required by the spec for POSITION
            accessor["min"] = [float(x) for x in array.min(axis=0)]
            accessor["max"] = [float(x) for x in array.max(axis=0)]
        primitive["attributes"][name] = add(array, ARRAY_BUFFER, accessor)
    indices = faces.astype(np.uint32).reshape(-1)
    primitive["indices"] = add(
        indices,
        ELEMENT_ARRAY_BUFFER,
        {"componentType": UNSIGNED_INT, "count": len(indices), "type": "SCALAR"},
    )

    document = {
        "asset": {"version": "2.0", "generator": "eft-jax"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [primitive]}],
        "buffers": [{"byteLength": offset}],
        "bufferViews": buffer_views,
        "accessors": accessors,
    }
    json_chunk = _padded(json.dumps(document, separators=(",", ":")).encode("utf-8"), b" ")
    bin_chunk = _padded(b"".join(blocks), b"\0")
    total = 12 + 8 + len(json_chunk) + 8 + len(bin_chunk)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        MAGIC
        + struct.pack("<II", VERSION, total)
        + struct.pack("<II", len(json_chunk), CHUNK_JSON)
        + json_chunk
        + struct.pack("<II", len(bin_chunk), CHUNK_BIN)
        + bin_chunk
    )
    return path


def read_glb(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(vertices (V, 3) float32, faces (F, 3) int64, colours (V, 3) float32 or None) of a .glb
    file laid out as `write_glb` writes it. Raises ValueError naming the file and the problem."""
    path = Path(path)
    data = path.read_bytes()

    def fail(problem):
        raise ValueError(f"{path}: not a glb file eft-jax can read: {problem}")

    if len(data) < 12 or data[:4] != MAGIC:
        fail("no 'glTF' magic at the start")
    version, total = struct.unpack_from("<II", data, 4)
    if version != VERSION:
        fail(f"glTF version {version}, expected {VERSION}")
    if total != len(data):
        fail(f"header says {total} bytes, the file has {len(data)} (truncated or padded?)")
    chunks, position = [], 12
    while position < len(data):
        if position + 8 > len(data):
            fail(f"chunk header at byte {position} runs past the end")
        length, kind = struct.unpack_from("<II", data, position)
        if length % 4 or position + 8 + length > len(data):
            fail(
                f"chunk at byte {position} has length {length} (not a multiple of 4, or past the end)"
            )
        chunks.append((kind, data[position + 8 : position + 8 + length]))
        position += 8 + length
    if len(chunks) != 2 or chunks[0][0] != CHUNK_JSON or chunks[1][0] != CHUNK_BIN:
        fail("expected exactly a JSON chunk followed by a BIN chunk")
    try:
        document = json.loads(chunks[0][1].decode("utf-8"))
        primitive = document["meshes"][0]["primitives"][0]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, IndexError, TypeError) as error:
        fail(f"JSON chunk holds no mesh primitive ({type(error).__name__}: {error})")
    binary = chunks[1][1]

    def accessor(index, component_type, kind, width):
        try:
            spec = document["accessors"][index]
            view = document["bufferViews"][spec["bufferView"]]
            count, start = spec["count"], view.get("byteOffset", 0) + spec.get("byteOffset", 0)
        except (KeyError, IndexError, TypeError) as error:
            fail(f"accessor {index} is incomplete ({type(error).__name__}: {error})")
        if (spec.get("componentType"), spec.get("type")) != (component_type, kind):
            fail(
                f"accessor {index} is {spec.get('componentType')} {spec.get('type')}, expected {component_type} {kind}"
            )
        dtype = np.dtype("<f4") if component_type == FLOAT else np.dtype("<u4")
        size = count * width * dtype.itemsize
        if (
            "byteStride" in view
            or start + size > view.get("byteOffset", 0) + view["byteLength"]
            or start + size > len(binary)
        ):
            fail(f"accessor {index} does not fit its buffer view")
        return np.frombuffer(binary, dtype, count * width, start).reshape(count, width)

    attributes = primitive.get("attributes", {})
    if "POSITION" not in attributes or "indices" not in primitive:
        fail("the primitive has no POSITION or no indices")
    vertices = accessor(attributes["POSITION"], FLOAT, "VEC3", 3).astype(np.float32)
    faces = accessor(primitive["indices"], UNSIGNED_INT, "SCALAR", 1).reshape(-1)
    if len(faces) % 3 or (faces.size and faces.max() >= len(vertices)):
        fail("indices are not triangles over the vertices")
    colors = None
    if "COLOR_0" in attributes:
        colors = accessor(attributes["COLOR_0"], FLOAT, "VEC3", 3).astype(np.float32)
        if len(colors) != len(vertices):
            fail(f"{len(colors)} colours for {len(vertices)} vertices")
    return vertices, faces.reshape(-1, 3).astype(np.int64), colors


def _unit_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals, renormalised in float64 so they are unit length in float32
    (glTF requires it). A vertex no triangle with area touches gets +y (up) instead of zero."""
    normals = np.asarray(vertex_normals(vertices, faces), np.float64)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.where(length > 0.5, normals / np.maximum(length, 1e-12), [0.0, 1.0, 0.0])
    return normals.astype(np.float32)


def _float_colors(colors, count: int) -> np.ndarray:
    colors = np.asarray(colors)
    if colors.shape != (count, 3):
        raise ValueError(f"vertex_colors must have shape ({count}, 3); got {colors.shape}")
    if colors.dtype == np.uint8:
        return colors.astype(np.float32) / 255.0
    colors = colors.astype(np.float32)
    if not (np.isfinite(colors).all() and colors.min() >= 0.0 and colors.max() <= 1.0):
        raise ValueError("float vertex_colors must lie in [0, 1] (pass uint8 for 0..255)")
    return colors


def _padded(data: bytes, pad: bytes) -> bytes:
    return data + pad * (-len(data) % 4)
