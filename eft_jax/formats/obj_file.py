"""Wavefront OBJ export of a mesh, for Blender, MeshLab and friends."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_obj(path: str | Path, vertices, faces, comment: str = "") -> Path:
    """Write vertices (V, 3) and triangles (F, 3, zero-based) as a text OBJ file."""
    path = Path(path)
    vertices = np.asarray(vertices, np.float64)
    faces = np.asarray(faces, np.int64)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"vertices must have shape (V, 3); got {vertices.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"faces must have shape (F, 3); got {faces.shape}")
    if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise ValueError("faces index vertices that do not exist")
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# {line}" for line in comment.splitlines()]
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices]
    lines += [f"f {a} {b} {c}" for a, b, c in faces + 1]
    path.write_text("\n".join(lines) + "\n")
    return path


def read_obj(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read the vertices and triangles of an OBJ file (positions and faces only)."""
    vertices, faces = [], []
    for line in Path(path).read_text().splitlines():
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "v":
            vertices.append([float(x) for x in fields[1:4]])
        elif fields[0] == "f":
            faces.append([int(f.split("/")[0]) - 1 for f in fields[1:4]])
    return np.array(vertices, np.float64), np.array(faces, np.int64)
