"""`PuzzlePreprocessor`: the keras-hub `Preprocessor` base of the TRM puzzle preprocessors.

A puzzle preprocessor turns raw puzzles (Sudoku strings or digit arrays, maze strings, ARC grids) into the solver's
token batch `{"inputs": (B, L) int32, "puzzle_identifiers": (B,) int32}`, and answers (given in the same form) into
the labels `(B, L)` of `fit` / `evaluate`; `decode` turns the solver's outputs back into answers with a confidence.
A batch that is already tokens (a dict with "inputs") passes through unchanged, so token pipelines keep working with
a solver that has a preprocessor. One puzzle (a string, one grid) gives unbatched outputs (L,) and ().

Eager calls run in Python (numpy); inside a `tf.data` pipeline (graph mode) the same Python code runs through
`tf.numpy_function`, so there is one parser. keras-hub saves the preprocessor of a solver with its preset as
`preprocessor.json`; `TRMPuzzleSolver.from_preset` loads it back, and a preset without that file gets the
preprocessor of its `PuzzleSpec` (`PuzzlePreprocessor.from_spec`), or none.

Subclasses (one per file): `SudokuPreprocessor`, `MazePreprocessor`, `ARCPreprocessor`.

Example:
    >>> from keras_trm.models import PuzzlePreprocessor
    >>> pre = PuzzlePreprocessor.from_preset("trm_sudoku_4x4")      # the shipped preset's preprocessor.json
    >>> type(pre).__name__, pre.sequence_length
    ('SudokuPreprocessor', 16)
    >>> pre(["1..4........2..1"])["inputs"].tolist()
    [[2, 1, 1, 5, 1, 1, 1, 1, 1, 1, 1, 1, 3, 1, 1, 2]]
"""

import keras
import numpy as np
from keras_hub.models import Preprocessor
from keras_hub.src.utils.preset_utils import PREPROCESSOR_CONFIG_FILE, check_config_class, check_file_exists, load_json
from keras_hub.src.utils.tensor_utils import convert_to_numpy

from keras_trm.models.trm_backbone import TRMBackbone
from keras_trm.utils.preset_utils import load_puzzle_spec, preset_str

_BY_BENCHMARK = {}  # PuzzleSpec benchmark -> the preprocessor class that reads its puzzles


def as_python(x):
    """tf / backend tensors and numpy string arrays -> python strings (or lists of them) and numpy arrays."""
    if isinstance(x, bytes):
        return x.decode("utf-8")
    if isinstance(x, (str, list, tuple)) or x is None:
        return x
    x = convert_to_numpy(x)  # tf tensors whatever the backend, backend tensors, numpy
    if x.dtype.kind in "SUO":
        items = [v.decode("utf-8") if isinstance(v, bytes) else v for v in x.reshape(-1).tolist()]
        return items[0] if x.ndim == 0 else items
    return x


def is_text(x):
    """Whether raw puzzles `x` are strings (one, a list, or a string array / tensor)."""
    if isinstance(x, (str, bytes)):
        return True
    if isinstance(x, (list, tuple)):
        return bool(x) and isinstance(x[0], (str, bytes))
    dtype = getattr(x, "dtype", None)
    return dtype is not None and (getattr(dtype, "kind", "") in "SUO" or "string" in str(dtype))


def _sigmoid(x):
    return (1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))).astype(np.float32)


class PuzzlePreprocessor(Preprocessor):
    """Base class: raw puzzles <-> the token batches of a `TRMPuzzleSolver` (see the module docstring).

    Subclasses set `benchmarks` (the `PuzzleSpec` benchmarks they read) and implement `encode` (puzzles -> tokens),
    `encode_answers` (answers -> labels), `detokenize` (answer tokens -> answers), `is_valid` (rule check) and
    `spec_config` (constructor arguments for a `PuzzleSpec`).

    Call arguments:
        x: raw puzzles (see the subclass), or a token batch dict with "inputs" (passed through).
        y: answers in the same form as `x` (labels for `fit` / `evaluate`), or None.
        sample_weight: passed through.

    Returns `x` dict (and `(x, labels, sample_weight)` when `y` is given), as keras-hub preprocessors.
    """

    backbone_cls = TRMBackbone
    benchmarks = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in cls.__dict__.get("benchmarks", ()):
            _BY_BENCHMARK[name] = cls

    # ---------------------------------------------------------------- to implement
    @property
    def sequence_length(self):
        """Tokens per puzzle (None when read from the puzzles)."""
        raise NotImplementedError

    def encode(self, x):
        """Raw puzzles -> (tokens int32 (B, L), single: whether `x` was one puzzle)."""
        raise NotImplementedError

    def encode_answers(self, y, inputs):
        """Raw answers (as many as `inputs`) -> label tokens int32 (B, L)."""
        raise NotImplementedError

    def detokenize(self, tokens, strings=True):
        """Answer tokens (B, L) -> answers (strings when `strings`, else arrays)."""
        raise NotImplementedError

    def is_valid(self, tokens, inputs):
        """bool (B,): whether each answer obeys the puzzle's rules and keeps its givens."""
        raise NotImplementedError

    @classmethod
    def spec_config(cls, spec):
        """Constructor arguments of this preprocessor for a `PuzzleSpec`."""
        raise NotImplementedError

    # ---------------------------------------------------------------- building
    @classmethod
    def from_spec(cls, spec):
        """The preprocessor of a `PuzzleSpec`'s benchmark (None for no spec, or a benchmark without one)."""
        sub = _BY_BENCHMARK.get(getattr(spec, "benchmark", None))
        if sub is None:
            return None
        if not issubclass(sub, cls):
            raise ValueError(f"a {spec.benchmark!r} puzzle spec needs a {sub.__name__}, not a {cls.__name__}")
        return sub(**sub.spec_config(spec))

    @classmethod
    def from_preset(cls, preset, config_file=PREPROCESSOR_CONFIG_FILE, **kwargs):
        """The preprocessor of a preset: its `preprocessor.json`, else the one of its `PuzzleSpec`.

        Args:
            preset: a registered preset name, a `kaggle://` / `hf://` handle or a local preset folder.
            config_file: the preprocessor's file in the preset (keras-hub's `preprocessor.json`).
            **kwargs: constructor arguments that replace the saved ones.
        """
        pre = preset_preprocessor(preset, config_file)
        if pre is None:
            raise ValueError(
                f"preset {preset!r} has no {config_file} and no puzzle spec of a benchmark with a preprocessor"
            )
        if not isinstance(pre, cls):
            raise ValueError(f"preset {preset!r} has a {type(pre).__name__}, not a {cls.__name__}")
        return type(pre).from_config({**pre.get_config(), **kwargs}) if kwargs else pre

    # ---------------------------------------------------------------- call
    def call(self, x, y=None, sample_weight=None):
        if self._use_tf_workflow():
            return self._call_tf(x, y, sample_weight)
        return self.preprocess(x, y, sample_weight)

    def preprocess(self, x, y=None, sample_weight=None):
        """The call in Python (numpy), without Keras's layer wrapping: its errors are the parser's own."""
        if isinstance(x, dict):
            return keras.utils.pack_x_y_sample_weight(self._token_batch(x), y, sample_weight)
        inputs, single = self.encode(as_python(x))
        labels = None if y is None else self.encode_answers(as_python(y), inputs)
        out = {"inputs": inputs, "puzzle_identifiers": np.zeros((len(inputs),), np.int32)}
        if single:
            out = {k: v[0] for k, v in out.items()}
            labels = None if labels is None else labels[0]
        return keras.utils.pack_x_y_sample_weight(out, labels, sample_weight)

    def _token_batch(self, x):
        if "inputs" not in x:
            raise ValueError(f"a token batch is a dict with 'inputs' (and 'puzzle_identifiers'); got keys {sorted(x)}")
        if "puzzle_identifiers" in x:
            return x
        inputs = x["inputs"]
        return dict(x, puzzle_identifiers=np.zeros(np.shape(inputs)[:-1], np.int32))

    def _single_shape(self, shape, text):
        """Whether a tensor of static `shape` (a list) holds one puzzle (graph mode); `text`: a string tensor."""
        return len(shape) == 0

    def _call_tf(self, x, y=None, sample_weight=None):
        import tensorflow as tf

        if isinstance(x, dict):
            if "puzzle_identifiers" not in x:
                x = dict(x, puzzle_identifiers=tf.zeros(tf.shape(x["inputs"])[:-1], tf.int32))
            return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)
        x = tf.convert_to_tensor(x)
        args = [x] if y is None else [x, tf.convert_to_tensor(y)]

        def run(*values):
            out = self.preprocess(*values)
            xs, labels, _ = keras.utils.unpack_x_y_sample_weight(out)
            res = [np.asarray(xs["inputs"], np.int32), np.asarray(xs["puzzle_identifiers"], np.int32)]
            return res + ([] if labels is None else [np.asarray(labels, np.int32)])

        outs = tf.numpy_function(run, args, [tf.int32] * (2 + (y is not None)), stateful=False)
        single = self._single_shape(x.shape.as_list(), x.dtype == tf.string)
        length = self.sequence_length
        token_shape = [length] if single else [None, length]
        outs[0].set_shape(token_shape)
        outs[1].set_shape([] if single else [None])
        labels = None
        if y is not None:
            outs[2].set_shape(token_shape)
            labels = outs[2]
        return keras.utils.pack_x_y_sample_weight(
            {"inputs": outs[0], "puzzle_identifiers": outs[1]}, labels, sample_weight
        )

    # ---------------------------------------------------------------- decoding
    def decode(self, outputs, inputs, strings=True):
        """Solver outputs -> answers with their confidence.

        Args:
            outputs: the solver's outputs (`predict`): "logits" (B, L, V), "q_halt_logits" (B,), "steps" (B,).
            inputs: the puzzles' tokens (B, L) (or the token batch dict), for the rule check.
            strings: answers as strings (Sudoku, maze) when True, else as arrays.

        Returns:
            dict: "answers" (B answers: strings or arrays, see `detokenize`), "valid" bool (B,) (the answer obeys
            the rules and keeps the givens), "confidence" float32 (B,) = sigmoid(halt logit), the model's own
            estimate that the answer is right, and "steps" int32 (B,) supervision steps used.
        """
        tokens = np.asarray(outputs["logits"]).argmax(-1).astype(np.int32)
        inputs = np.asarray(inputs["inputs"] if isinstance(inputs, dict) else inputs)
        return {
            "answers": self.detokenize(tokens, strings=strings),
            "valid": np.asarray(self.is_valid(tokens, inputs), bool),
            "confidence": _sigmoid(np.asarray(outputs["q_halt_logits"]).reshape(-1)),
            "steps": np.asarray(outputs["steps"]).reshape(-1).astype(np.int32),
        }


def preset_preprocessor(preset, config_file=PREPROCESSOR_CONFIG_FILE):
    """The preprocessor of a preset: its `preprocessor.json`, else the one of its `PuzzleSpec`, else None."""
    preset = preset_str(preset)
    if check_file_exists(preset, config_file):
        config = load_json(preset, config_file)
        if not issubclass(check_config_class(config), PuzzlePreprocessor):
            raise ValueError(
                f"{config_file} of preset {preset!r} holds a {config.get('class_name')}, not a puzzle preprocessor"
            )
        return keras.saving.deserialize_keras_object(config)
    return PuzzlePreprocessor.from_spec(load_puzzle_spec(preset))
