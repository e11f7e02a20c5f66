"""The import rules of docs/ARCHITECTURE.md, section 2: nothing imports a higher layer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast_compiles

PACKAGE = Path(__file__).resolve().parents[1] / "eft_jax"

# docs/ARCHITECTURE.md, section 2.
LAYERS = {
    "errors": 0,
    "safe_pickle": 0,
    "config": 0,
    "progress": 0,
    "geometry": 1,
    "body": 2,
    "nets": 3,
    "render": 3,
    "formats": 4,
    "datasets": 5,
    "fitting": 6,
    "eval": 7,
    "train": 8,
    "report": 8,
    "jobs": 9,
    "cli": 10,
}
# Every layer raises `errors.InputError`'s subclasses, layer 0 included.
SAME_LAYER_ALLOWED: set[tuple[str, str]] = {("config", "errors")}


def _part(module: str) -> str | None:
    """'eft_jax.body.model' -> 'body'; the top-level package itself -> None."""
    parts = module.split(".")
    return parts[1] if parts[0] == "eft_jax" and len(parts) > 1 else None


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}: relative import"
            if node.module == "eft_jax":  # from eft_jax import body, nets
                yield from (f"eft_jax.{alias.name}" for alias in node.names)
            else:
                yield node.module


def test_every_part_of_the_package_has_a_layer():
    parts = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    parts |= {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    parts.discard("configs")  # an installed copy of configs/ (not in a checkout)
    assert parts == set(LAYERS)


def test_nothing_imports_upward_or_sideways():
    violations = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        source = relative.parts[0].removesuffix(".py")
        if source == "__init__":
            continue
        for module in _imports(path):
            target = _part(module)
            if target is None or target == source:
                continue
            upward = LAYERS[target] > LAYERS[source]
            sideways = (
                LAYERS[target] == LAYERS[source] and (source, target) not in SAME_LAYER_ALLOWED
            )
            if upward or sideways:
                violations.append(f"{relative} imports {module}")
    assert not violations, "\n".join(violations)


def test_jobs_never_import_each_other():
    """A job reads its config and calls the library; what two jobs share lives in the library."""
    violations = [
        f"{path.name} imports {module}"
        for path in (PACKAGE / "jobs").glob("*.py")
        for module in _imports(path)
        if module.startswith("eft_jax.jobs")
    ]
    assert not violations, "\n".join(violations)
