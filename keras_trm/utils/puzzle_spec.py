"""`PuzzleSpec`: what a preset needs to be used without the data build it was trained on (and its two files).

A preset folder (keras-hub layout: `config.json`, `model.weights.h5`, `task.json`, `metadata.json`) gets two more
files under `assets/trm/`:

- `puzzle_spec.json`: benchmark name, vocabulary (token id -> meaning) and tokenisation, grid shape, halting settings,
  whether the preset is architecture-only (no trained weights), a description, and for trained presets how they were
  made (`training`: command, data, results).
- `identifiers.json` (ARC only): the puzzle-embedding table's identifier names (`"<task_id>|<variant>"`, row 0 the
  blank) and each identifier's variant transform (dihedral id and colour map), stored compactly as the data builder
  does (`tid`: one digit per identifier, `colours`: ten digits per identifier).

Example:
    >>> spec = PuzzleSpec.sudoku(4)
    >>> spec.vocabulary, spec.grid_shape, spec.seq_len
    (['<pad>', '<blank>', '1', '2', '3', '4'], [4, 4], 16)
    >>> PuzzleSpec.from_dict(spec.to_dict()) == spec
    True
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Optional, Union

import numpy as np

from keras_trm.data import arc as arc_data
from keras_trm.data.format import PAD_ID
from keras_trm.data.maze import MAZE_CHARSET, MAZE_HARD_SIDE, MAZE_VOCABULARY
from keras_trm.data.puzzle_dataset import read_metadata
from keras_trm.data.sudoku import sudoku_vocabulary

FORMAT_VERSION = 1
SPEC_DIR = "assets/trm"
SPEC_FILE = f"{SPEC_DIR}/puzzle_spec.json"
IDENTIFIERS_FILE = f"{SPEC_DIR}/identifiers.json"


@dataclasses.dataclass
class PuzzleSpec:
    """Tokenisation and usage settings of a TRM preset (serialised to `assets/trm/puzzle_spec.json`).

    Attributes:
        benchmark: one of `keras_trm.data.format.BENCHMARKS`: "sudoku", "maze", "arc-agi-1", "arc-agi-2" or "custom".
        vocabulary: token id -> meaning (id 0 is padding; also the ignored label).
        grid_shape: [rows, cols] of one puzzle (the 30x30 canvas for ARC); rows * cols = sequence length.
        tokenization: how characters/values map to tokens, e.g. {"blank": ".", "offset": 1} for Sudoku.
        halt_max_steps: N_sup used when the preset is loaded as a solver.
        halt_at_inference: the solver's halting rule at inference: False (fixed steps), True (a positive halt
            logit) or a `HaltingRule` config dict {"threshold": ..., "patience": ...}.
        architecture_only: True for presets without trained weights (random initialisation).
        description: one line for humans.
        training: how the weights were made (command, data, hyper-parameters, results), or None.
        identifiers: ARC only: names of the puzzle-embedding rows (index = identifier).
        transforms: ARC only: {identifier: (dihedral id, colour map (10,))}.
    """

    benchmark: str
    vocabulary: list
    grid_shape: list
    tokenization: dict = dataclasses.field(default_factory=dict)
    halt_max_steps: int = 16
    halt_at_inference: Union[bool, dict] = False
    architecture_only: bool = False
    description: str = ""
    training: Optional[dict] = None
    identifiers: Optional[list] = None
    transforms: Optional[dict] = None
    format_version: int = FORMAT_VERSION

    # ------------------------------------------------------------------ constructors
    @classmethod
    def sudoku(cls, n=9, **kwargs):
        """Sudoku n x n: tokens value + 1 (blank 1, digits 2..n+1), vocab n + 2."""
        return cls(
            "sudoku",
            sudoku_vocabulary(n),
            [n, n],
            tokenization={"blank": ".", "blank_token": 1, "digit_offset": 1},
            **kwargs,
        )

    @classmethod
    def maze(cls, n=MAZE_HARD_SIDE, **kwargs):
        """Maze n x n over `MAZE_CHARSET` '#', ' ', 'S', 'G', 'o' (tokens 1..5), vocab 6."""
        return cls("maze", list(MAZE_VOCABULARY), [n, n], tokenization={"charset": MAZE_CHARSET}, **kwargs)

    @classmethod
    def arc(cls, benchmark="arc-agi-1", identifiers=None, transforms=None, **kwargs):
        """ARC: PAD 0, EOS 1, colour c -> c + 2 (vocab 12) on a 30x30 canvas."""
        canvas = [arc_data.MAX_GRID, arc_data.MAX_GRID]
        return cls(
            benchmark,
            list(arc_data.VOCABULARY),
            canvas,
            tokenization={
                "pad": PAD_ID,
                "eos": arc_data.EOS_ID,
                "colour_offset": arc_data.COLOUR_OFFSET,
                "canvas": canvas,
            },
            identifiers=identifiers,
            transforms=transforms,
            **kwargs,
        )

    @classmethod
    def from_dataset(cls, root, **kwargs):
        """The spec of a built dataset (its metadata.json; for ARC also every identifier's variant transform)."""
        meta = read_metadata(os.fspath(root))
        bench = meta.get("benchmark", "custom")
        rows, cols = meta["grid_shape"]
        if bench == "sudoku":
            return cls.sudoku(rows, **kwargs)
        if bench == "maze":
            return cls.maze(rows, **kwargs)
        if bench.startswith("arc"):
            transforms, identifiers = {}, None
            for split in meta.get("splits", {}):
                table = arc_data.load_variant_table(root, split)
                identifiers = table["identifiers"]
                transforms.update(table["transforms"])
            return cls.arc(bench, identifiers=identifiers, transforms=transforms, **kwargs)
        vocab = meta.get("vocabulary") or [str(i) for i in range(meta["vocab_size"])]
        return cls("custom", list(vocab), [rows, cols], **kwargs)

    # ------------------------------------------------------------------ properties
    @property
    def seq_len(self):
        return int(self.grid_shape[0]) * int(self.grid_shape[1])

    @property
    def vocab_size(self):
        return len(self.vocabulary)

    def variants_of(self, task_id):
        """ARC: [(identifier, tid, colour map)] of the trained variants of `task_id` (empty if none)."""
        if not self.identifiers or not self.transforms:
            return []
        out = []
        for ident, name in enumerate(self.identifiers):
            if ident and arc_data.task_id_of(name) == task_id and ident in self.transforms:
                tid, cmap = self.transforms[ident]
                out.append((ident, int(tid), np.asarray(cmap, np.int64)))
        return out

    # ------------------------------------------------------------------ serialisation
    def to_dict(self):
        """JSON-able dict of everything except the ARC identifier table (see `identifiers_to_dict`)."""
        d = dataclasses.asdict(self)
        d.pop("identifiers")
        d.pop("transforms")
        d["has_identifier_table"] = self.identifiers is not None
        return d

    def identifiers_to_dict(self):
        """The ARC identifier table in the builder's compact form, or None."""
        if self.identifiers is None:
            return None
        transforms = self.transforms or {}
        tid, colours = [], []
        for ident in range(len(self.identifiers)):
            t, cmap = transforms.get(ident, (0, np.arange(10)))
            tid.append(str(int(t)))
            colours.append("".join(str(int(c)) for c in np.asarray(cmap).reshape(-1)))
        return {
            "identifiers": list(self.identifiers),
            "tid": "".join(tid),
            "colours": "".join(colours),
            "has_transform": [i for i in range(len(self.identifiers)) if i in transforms],
        }

    @classmethod
    def from_dict(cls, d, identifier_table=None):
        d = dict(d)
        d.pop("has_identifier_table", None)
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - fields)
        if unknown:
            raise ValueError(f"{SPEC_FILE}: unknown field(s) {unknown}")
        spec = cls(**d)
        if identifier_table is not None:
            names = identifier_table["identifiers"]
            tid, colours = identifier_table["tid"], identifier_table["colours"]
            if len(tid) != len(names) or len(colours) != 10 * len(names):
                raise ValueError(
                    f"{IDENTIFIERS_FILE}: field 'tid'/'colours' does not cover the {len(names)} identifiers"
                )
            tids = np.frombuffer(tid.encode(), np.uint8).astype(np.int64) - 48
            cols = (np.frombuffer(colours.encode(), np.uint8).astype(np.int64) - 48).reshape(-1, 10)
            keep = identifier_table.get("has_transform", range(len(names)))
            spec.identifiers = list(names)
            spec.transforms = {int(i): (int(tids[i]), cols[i]) for i in keep}
        return spec

    def save(self, preset_dir):
        """Write `assets/trm/puzzle_spec.json` (and `identifiers.json` for ARC) into a preset folder."""
        os.makedirs(os.path.join(preset_dir, SPEC_DIR), exist_ok=True)
        with open(os.path.join(preset_dir, SPEC_FILE), "w") as f:
            json.dump(self.to_dict(), f, indent=2)
        table = self.identifiers_to_dict()
        if table is not None:
            with open(os.path.join(preset_dir, IDENTIFIERS_FILE), "w") as f:
                json.dump(table, f)

    def __eq__(self, other):
        if not isinstance(other, PuzzleSpec):
            return NotImplemented
        return json.dumps(self.to_dict(), sort_keys=True) == json.dumps(other.to_dict(), sort_keys=True) and (
            json.dumps(self.identifiers_to_dict(), sort_keys=True)
            == json.dumps(other.identifiers_to_dict(), sort_keys=True)
        )
