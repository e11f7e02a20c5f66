"""JSON text of rounded float arrays, byte for byte what `json.dumps` writes for their `.tolist()`,
made for many rows at once with numpy instead of one `float.__repr__` per value.

`json.dumps` writes a float as `repr` does: the shortest decimal that reads back as the same
double. numpy's `round(v, d)` is rint(v * 10**d) / 10**d, the double nearest k / 10**d for the
integer k = rint(v * 10**d). For 1e-4 <= |x| < 1e8 (and d <= 7) doubles lie less than 10**-d / 2
apart, so no decimal shorter than k / 10**d reads back as x, and repr writes k / 10**d
positionally with its trailing zeros dropped (one decimal at least): that is what is written here,
from k, digit by digit into a byte grid. Rows with a value outside that range (repr's exponent form
below 1e-4) are not `formattable`: their writer falls back to `json.dumps`.

    keys = rounded_keys(values, 7)              # (rows, ...) float64 values -> k
    ok = formattable(keys, 7)                   # rows this module writes
    texts = array_texts([keys[ok]], 7)          # per row, a list of one JSON text per array
"""

from __future__ import annotations

import functools
import math

import numpy as np

MAX_DECIMALS = 7
INT_DIGITS = 8  # |x| < 1e8


def rounded_keys(values: np.ndarray, decimals: int) -> np.ndarray:
    """k = rint(values * 10**decimals), as numpy's `round` computes it before dividing."""
    return np.rint(np.asarray(values, np.float64) * 10.0**decimals)


def formattable(keys: np.ndarray, decimals: int) -> np.ndarray:
    """(rows,) bool: every value of the row is 0 or has 1e-4 <= |k / 10**decimals| < 1e8."""
    if not 0 < decimals <= MAX_DECIMALS:
        return np.zeros(len(keys), bool)
    size = np.abs(keys.reshape(len(keys), -1))
    low = 10.0 ** max(0, decimals - 4)
    ok = (size == 0) | ((size >= low) & (size < 10.0 ** (decimals + INT_DIGITS)))
    return ok.all(axis=1)


@functools.lru_cache(maxsize=64)
def separators(shapes: tuple[tuple, ...]) -> tuple[np.ndarray, np.ndarray]:
    """What `json.dumps` writes after each element of nested lists of these shapes (C order,
    one after the other): ", ", closing and opening brackets between rows, the closing brackets
    after the last. As (elements, widest) ASCII bytes, zero-padded, and their lengths."""
    texts = []
    for shape in shapes:
        for index in np.ndindex(*shape):
            closing = 0
            for position, size in zip(reversed(index), reversed(shape), strict=True):
                if position != size - 1:
                    break
                closing += 1
            last = closing == len(shape)
            texts.append("]" * closing + ("" if last else ", " + "[" * closing))
    width = max(len(text) for text in texts)
    table = np.zeros((len(texts), width), np.uint8)
    for n, text in enumerate(texts):
        table[n, : len(text)] = np.frombuffer(text.encode("ascii"), np.uint8)
    return table, np.asarray([len(text) for text in texts])


def _digit_tables() -> dict[str, np.ndarray]:
    """0..9999 as 4 ASCII bytes each, with the zeros repr leaves out as NUL bytes: "full" (all 4
    digits), "units" (leading zeros out, the last digit kept), "leading" (leading zeros out, 0 as
    nothing), "trailing" (trailing zeros out, 0 as nothing), "first" (trailing zeros out, the
    first digit kept)."""
    numbers = np.arange(10_000)
    digits = np.stack([numbers // 10**p % 10 for p in (3, 2, 1, 0)], axis=1)
    position = np.arange(4)
    significant = np.ones(10_000, int) + (numbers >= 10) + (numbers >= 100) + (numbers >= 1000)
    kept_decimals = 4 - sum((numbers % 10**p == 0).astype(int) for p in (1, 2, 3, 4))
    masks = {
        "full": np.ones((10_000, 4), bool),
        "units": position >= 4 - significant[:, None],
        "leading": (position >= 4 - significant[:, None]) & (numbers > 0)[:, None],
        "trailing": position < kept_decimals[:, None],
        "first": position < np.maximum(1, kept_decimals)[:, None],
    }
    return {
        name: np.where(mask, digits + ord("0"), 0).astype(np.uint8) for name, mask in masks.items()
    }


TABLES = _digit_tables()
# for a 4-digit group chosen by a condition: table[index + 10_000 * condition]
LOW_DIGITS = np.concatenate([TABLES["units"], TABLES["full"]])  # condition: a higher group
FIRST_DECIMALS = np.concatenate([TABLES["full"], TABLES["first"]])  # condition: no lower decimals
LENGTHS = {name: np.count_nonzero(table, axis=1) for name, table in TABLES.items()}
LOW_LENGTHS = np.count_nonzero(LOW_DIGITS, axis=1)
FIRST_LENGTHS = np.count_nonzero(FIRST_DECIMALS, axis=1)


def array_texts(keys: list[np.ndarray], decimals: int) -> list[list[str]]:
    """For each row, the JSON text of each array (`keys[j][row]`: k of `rounded_keys`, of any
    shape) as `json.dumps` writes `(np.round(values, decimals) + 0.0).tolist()`. Rows must be
    `formattable`. Each value is laid out in a fixed-width byte grid (sign, integer digits, the
    point, 8 decimals, the separator after it) from tables of 4-digit groups, with NUL bytes where
    repr writes nothing, which are then deleted."""
    rows = len(keys[0])
    shapes = tuple(k.shape[1:] for k in keys)
    flat = np.concatenate([k.reshape(rows, -1) for k in keys], axis=1).astype(np.int64)
    sep_bytes, sep_lengths = separators(shapes)
    shape = flat.shape
    negative = flat < 0
    whole, fraction = np.divmod(np.abs(flat), 10**decimals)
    fraction *= 10 ** (8 - decimals)  # as 8 decimals, the last 8 - decimals of them 0
    fraction_high, fraction_low = np.divmod(fraction, 10_000)
    first = fraction_high + 10_000 * (fraction_low == 0)
    if whole.max(initial=0) < 10_000:  # the usual case: one group of integer digits
        integer = [TABLES["units"][whole]]
        lengths = LENGTHS["units"][whole]
    else:
        high, low = np.divmod(whole, 10_000)
        low += 10_000 * (high > 0)
        integer = [TABLES["leading"][high], LOW_DIGITS[low]]
        lengths = LENGTHS["leading"][high] + LOW_LENGTHS[low]
    grid = np.concatenate(
        [
            (negative * np.uint8(ord("-")))[..., None],
            *integer,
            np.full(shape + (1,), ord("."), np.uint8),
            FIRST_DECIMALS[first],
            TABLES["trailing"][fraction_low],
            np.broadcast_to(sep_bytes, shape + sep_bytes.shape[1:]),
        ],
        axis=-1,
    )
    text = grid.tobytes().translate(None, b"\0").decode("ascii")
    lengths += negative + 1 + FIRST_LENGTHS[first] + LENGTHS["trailing"][fraction_low]
    lengths += sep_lengths
    starts = np.cumsum([0] + [math.prod(shape) for shape in shapes])[:-1]
    ends = np.cumsum(np.add.reduceat(lengths, starts, axis=1).ravel()).tolist()
    openings = ["[" * len(shape) for shape in shapes]
    out, begin, at = [], 0, 0
    for _ in range(rows):
        row = []
        for opening in openings:
            row.append(opening + text[begin : ends[at]])
            begin = ends[at]
            at += 1
        out.append(row)
    return out
