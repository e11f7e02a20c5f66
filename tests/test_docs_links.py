"""The README stays a user's guide that starts with the two commands, and the documentation's
relative links and `python -m` commands point at files that exist."""

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast_compiles

REPO = Path(__file__).resolve().parent.parent
DOCUMENTS = sorted(
    [REPO / "README.md", *(REPO / "docs").glob("*.md"), *(REPO / "experiments").rglob("README.md")]
)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
MODULE_COMMAND = re.compile(r"python -m ((?:experiments|tests)(?:\.\w+)+)")


def relative_links(text: str) -> list[str]:
    targets = [m.group(1) for m in LINK.finditer(text)]
    return [t for t in targets if not re.match(r"[a-z]+:", t) and not t.startswith("#")]


def test_readme_starts_with_the_two_commands_and_stays_short():
    text = (REPO / "README.md").read_text()
    assert text.startswith(
        "# eft-jax\n\n"
        "```bash\npip install -e . && eft-jax demo\n```\n\n"
        '```bash\npip install -e ".[test]" && python -m pytest -q\n```\n'
    )
    assert "python -m pytest -q -m slow" in text
    assert len(text.splitlines()) <= 400


def test_every_relative_link_points_to_an_existing_file():
    broken = []
    for document in DOCUMENTS:
        for target in relative_links(document.read_text()):
            path = (document.parent / target.split("#")[0]).resolve()
            if not path.exists():
                broken.append(f"{document.relative_to(REPO)}: {target}")
    assert DOCUMENTS and not broken, broken


def test_every_module_command_names_an_existing_script():
    missing = []
    for document in DOCUMENTS:
        for module in MODULE_COMMAND.findall(document.read_text()):
            if not (REPO / (module.replace(".", "/") + ".py")).is_file():
                missing.append(f"{document.relative_to(REPO)}: {module}")
    assert not missing, missing


def test_the_link_check_sees_a_broken_link(tmp_path):
    assert relative_links("[a](docs/x.md#y) ![b](p.png) [c](https://x.org) [d](#top)") == [
        "docs/x.md#y",
        "p.png",
    ]
