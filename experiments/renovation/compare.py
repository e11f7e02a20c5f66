"""Compare two folders written by record.sh: every fitted number equal bit for bit?

    python -m experiments.renovation.compare /tmp/before /tmp/after

Fits are compared by exemplar id from the per-exemplar logs (float32 values at full precision)
and from the EFT JSON files; the demo's report and evaluate's summary and per-exemplar table
number by number; pictures by the multiset of their bytes' digests (their file names may change).
Times, paths and the run's own metadata are left out. Exits 1 if anything differs.
"""

import csv
import hashlib
import json
import sys
from pathlib import Path

IGNORED_KEYS = {
    "seconds",
    "time",
    "elapsed",
    "header",
    "regressor",
    "body_model",
    "input",
}


def numbers(value, path=""):
    """Flatten a JSON value into {path: leaf}, leaving out times, paths and headers."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in IGNORED_KEYS or "second" in key:
                continue
            out.update(numbers(item, f"{path}.{key}"))
        return out
    if isinstance(value, list):
        out = {}
        for index, item in enumerate(value):
            out.update(numbers(item, f"{path}[{index}]"))
        return out
    return {path: value}


def log_fits(path: Path) -> dict:
    fits = {}
    for log in sorted(path.parent.glob(path.name + ".log*.jsonl")):
        for line in log.read_text().splitlines():
            record = json.loads(line)
            if "id" in record:
                fits[record["id"]] = numbers(record)
    return fits


def eft_json_fits(path: Path) -> dict:
    data = json.loads(path.read_text())["data"]
    return {entry.get("exemplar_id", str(i)): numbers(entry) for i, entry in enumerate(data)}


def differences(before: dict, after: dict) -> list[str]:
    out = [f"only before: {key}" for key in before.keys() - after.keys()]
    out += [f"only after: {key}" for key in after.keys() - before.keys()]
    for key in sorted(before.keys() & after.keys()):
        if before[key] != after[key]:
            if isinstance(before[key], dict) and isinstance(after[key], dict):
                out += [f"{key}{d}" for d in differences(before[key], after[key])]
            else:
                out.append(f"{key}: {before[key]!r} != {after[key]!r}")
    return out


def table(path: Path) -> dict:
    with open(path) as handle:
        return {str(i): row for i, row in enumerate(csv.DictReader(handle))}


def picture_digests(folder: Path) -> list[str]:
    return sorted(hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*.png"))


def main(before: Path, after: Path) -> int:
    checks = {
        "demo fits (log)": lambda root: log_fits(root / "demo" / "fits.json"),
        "demo fits (EFT JSON)": lambda root: eft_json_fits(root / "demo" / "fits.json"),
        "demo report": lambda root: numbers(
            json.loads((root / "demo" / "report.json").read_text())
        ),
        "EFT fit (log)": lambda root: log_fits(root / "fit.json"),
        "EFT fit (EFT JSON)": lambda root: eft_json_fits(root / "fit.json"),
        "SMPLify fit (log)": lambda root: log_fits(root / "smplify.json"),
        "SMPLify fit (EFT JSON)": lambda root: eft_json_fits(root / "smplify.json"),
        "evaluate summary": lambda root: numbers(
            json.loads((root / "evaluate" / "summary.json").read_text())
        ),
        "evaluate per exemplar": lambda root: table(root / "evaluate" / "per_exemplar.csv"),
    }
    failed = False
    print("| what | compared | result |\n|---|---:|---|")
    for name, read in checks.items():
        old, new = read(before), read(after)
        found = differences(old, new)
        failed |= bool(found)
        verdict = "equal bit for bit" if not found else f"{len(found)} differ: {found[:3]}"
        print(f"| {name} | {len(old)} | {verdict} |")
    for folder in ("pictures", "strips"):
        same = picture_digests(before / "demo" / folder) == picture_digests(after / "demo" / folder)
        count = len(picture_digests(before / "demo" / folder))
        print(f"| demo {folder} (PNG bytes) | {count} | {'equal' if same else 'differ'} |")
    return int(failed)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
