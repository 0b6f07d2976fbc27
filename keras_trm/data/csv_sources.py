"""Puzzle CSV sources: the public schema ``source,question,answer,rating`` read, written, located and summarised.

The Sudoku-Extreme and Maze-Hard CSVs (sapientinc on Hugging Face) and the offline generators' CSVs share one
schema (`CSV_COLUMNS`); the benchmark readers (`keras_trm.data.sudoku`, `keras_trm.data.maze`) parse its rows.

Example:
    >>> write_puzzle_csv("csv/train.csv", [("1..4", "1234", 0), ("..21", "3421", 2)], "hand-made")
    >>> [row for row in iter_puzzle_csv("csv/train.csv")]
    [(2, 'hand-made', '1..4', '1234', 0), (3, 'hand-made', '..21', '3421', 2)]
    >>> resolve_csv("csv", "train", "sapientinc/sudoku-extreme")
    'csv/train.csv'
    >>> rating_summary([0, 2])["mean"]
    1.0
"""

from __future__ import annotations

import csv
import os

import numpy as np

from keras_trm.data.errors import DataFormatError

__all__ = [
    "CSV_COLUMNS",
    "count_overlap",
    "parse_in_chunks",
    "iter_puzzle_csv",
    "resolve_csv",
    "write_puzzle_csv",
    "rating_summary",
]

CSV_COLUMNS = ("source", "question", "answer", "rating")


def parse_in_chunks(rows, parse, path, selected=None, chunk=65536, n=None):
    """Feed `rows` (an iterable of parsed CSV rows) to `parse(rows, path, n)` `chunk` at a time, keeping only the
    row positions in the sorted array `selected` (None: all); yields each chunk's parsed arrays. `n`: the expected
    grid side (None: the first chunk's)."""
    buf, si = [], 0
    for idx, row in enumerate(rows):
        if selected is not None:
            if si >= selected.size or selected[si] != idx:
                continue
            si += 1
        buf.append(row)
        if len(buf) >= chunk:
            out = parse(buf, path, n)
            n = out[0].shape[-1]
            yield out
            buf = []
    if buf:
        yield parse(buf, path, n)


def iter_puzzle_csv(path):
    """Yield ``(line, source, question, answer, rating)`` for each data row of a public-schema CSV.

    ``line`` is the row's line number in the file (the header is line 1). Raises DataFormatError on a wrong column
    set, a row with the wrong number of fields or a rating that is not a number.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataFormatError("no such file", file=path)
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or sorted(h.strip() for h in header) != sorted(CSV_COLUMNS):
            raise DataFormatError(f"columns {header}, expected {list(CSV_COLUMNS)}", file=path, row=1, field="header")
        col = {h.strip(): i for i, h in enumerate(header)}
        iq, ia, isrc, ir = col["question"], col["answer"], col["source"], col["rating"]
        for fields in reader:
            line = reader.line_num
            if len(fields) != 4:
                if not fields:
                    continue  # blank line
                raise DataFormatError(f"{len(fields)} fields, expected 4", file=path, row=line)
            r = fields[ir].strip()
            try:
                rating = int(r)
            except ValueError:
                try:
                    rating = float(r)
                except ValueError:
                    raise DataFormatError(f"not a number: {r!r}", file=path, row=line, field="rating") from None
            yield line, fields[isrc], fields[iq], fields[ia], rating


def _canonical(question):
    """A question without the characters the readers ignore (whitespace, grid separators), '0' read as '.'."""
    return "".join(c for c in question if not c.isspace() and c not in "|-+").replace("0", ".")


def count_overlap(train_csv, test_csv):
    """(test rows whose question is also a train question, test rows) of two public-schema CSVs.

    Questions are compared as the readers see them (whitespace and `|-+` ignored, `0` the same blank as `.`).

    Example:
    >>> write_puzzle_csv("o/train.csv", [("1..4", "1234", 0), ("..21", "3421", 0)], "mine")
    >>> write_puzzle_csv("o/test.csv", [("1.. 4", "1234", 0), ("4...", "4321", 0)], "mine")
    >>> count_overlap("o/train.csv", "o/test.csv")
    (1, 2)
    """
    train = {_canonical(q) for _, _, q, _, _ in iter_puzzle_csv(train_csv)}
    overlap = total = 0
    for _, _, q, _, _ in iter_puzzle_csv(test_csv):
        total += 1
        overlap += _canonical(q) in train
    return overlap, total


def resolve_csv(source, split, default_repo):
    """Path of ``<split>.csv`` from a local folder, a local file, or ``"hf:<owner>/<name>"`` (Hugging Face dataset,
    downloaded with a lazily-imported ``huggingface_hub``)."""
    source = os.fspath(source) if source is not None else f"hf:{default_repo}"
    if source.startswith("hf:"):
        try:
            from huggingface_hub import hf_hub_download
        except ImportError:
            raise ImportError(
                f"downloading {source} needs huggingface_hub (pip install huggingface_hub), or pass a "
                f"local folder holding {split}.csv"
            ) from None
        return hf_hub_download(source[3:], f"{split}.csv", repo_type="dataset")
    if os.path.isdir(source):
        return os.path.join(source, f"{split}.csv")
    return source


def write_puzzle_csv(path, rows, source):
    """Write ``rows`` of ``(question str, answer str, rating)`` as ``source,question,answer,rating``."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        for q, a, r in rows:
            w.writerow([source, q, a, r])
    os.replace(tmp, path)


def rating_summary(ratings):
    """Distribution of ratings: count, min, max, mean, median, p90, share with rating 0 and a histogram."""
    r = np.asarray(list(ratings), dtype=np.float64)
    if r.size == 0:
        return {"count": 0}
    edges = [0, 1, 2, 5, 10, 20, 50, 100, 1000, np.inf]
    hist = {}
    for lo, hi in zip(edges[:-1], edges[1:]):
        k = int(np.sum((r >= lo) & (r < hi)))
        if k:
            hist[f"{lo}" if hi == lo + 1 else f"{lo}-{'inf' if hi == np.inf else int(hi) - 1}"] = k
    return {
        "count": int(r.size),
        "min": float(r.min()),
        "max": float(r.max()),
        "mean": float(r.mean()),
        "median": float(np.median(r)),
        "p90": float(np.percentile(r, 90)),
        "zero_share": float(np.mean(r == 0)),
        "histogram": hist,
    }
