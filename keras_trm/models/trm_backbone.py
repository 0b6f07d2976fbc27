"""TRMBackbone: one supervision step of the Tiny Recursive Model as a functional keras-hub Backbone."""

import json
import os

import keras
from keras import ops
from keras_hub.models import Backbone, Task
from keras_hub.src.utils.preset_utils import list_subclasses

from keras_trm.layers.embedding import PuzzleEmbedding, TRMInputEmbedding, puzzle_positions
from keras_trm.layers.initializers import fan_in_trunc_normal
from keras_trm.layers.recursion import TRMRecursion
from keras_trm.utils.preset_utils import METADATA_FILE, is_architecture_only, load_puzzle_spec, preset_str, write_spec


@keras.saving.register_keras_serializable(package="keras_trm")
class TRMBackbone(Backbone):
    """The Tiny Recursive Model network (Jolicoeur-Martineau, 2025), one supervision step.

    Maps the carried states and a batch of puzzles to the new states and the heads' outputs:

        (z_H, z_L, inputs, puzzle_identifiers) -> (z_H, z_L, logits, q_halt_logits, q_continue_logits)

    x = sqrt(D) * [puzzle embedding (P positions) ; token embedding (L positions)]; then `H_cycles` (the paper's T)
    recursions, each `L_cycles` (the paper's n) updates z_L = f(z_L, z_H + x) followed by z_H = f(z_H, z_L), with
    gradient only through the last recursion; f, the paper's one shared network, is `recursion.reasoning_module`
    (`num_layers` post-norm blocks). logits = lm_head(z_H)[:, P:] and the halting head q = q_head(z_H[:, 0]) in
    float32 (q[..., 0] halt, q[..., 1] continue). The loop over supervision steps (the paper's N_sup,
    `halt_max_steps`) lives in `TRMPuzzleSolver`.

    Args:
        vocabulary_size: int. The number of token ids, V (11 for Sudoku 9x9, 6 for Maze, 12 for ARC).
        sequence_length: int. Tokens per puzzle, L (81 Sudoku, 900 Maze and ARC).
        hidden_dim: int. The size of every state vector, D. Defaults to `512`.
        num_heads: int. Attention heads (unused with `mlp_t=True`). Defaults to `8`.
        num_layers: int. Blocks in the reasoning module f (the official `L_layers`). Defaults to `2`.
        H_cycles: int. Recursions per supervision step, the paper's T. Defaults to `3`.
        L_cycles: int. Latent updates per recursion, the paper's n (6 Sudoku, 4 Maze and ARC). Defaults to `6`.
        expansion: float. SwiGLU expansion of the feed-forward layers. Defaults to `4.0`.
        mlp_t: bool. TRM-MLP: a SwiGLU across the sequence instead of attention. Defaults to `False`.
        pos_encodings: str. `"rope"`, `"learned"` or `"none"`. Defaults to `"rope"`.
        num_puzzle_identifiers: int. Rows of the puzzle-embedding table (1 for Sudoku and Maze, one per task
            variant for ARC). Defaults to `1`.
        puzzle_emb_ndim: int. E, the size of one puzzle vector; `0` for no puzzle embedding. Defaults to `None`,
            which means `hidden_dim`.
        puzzle_emb_len: int. P, the positions the puzzle vector takes in front of the tokens; `0` means
            ceil(E / D). Defaults to `16`.
        rope_theta: float. The RoPE base. Defaults to `10000.0`.
        norm_epsilon: float. The RMS norm epsilon. Defaults to `1e-5`.
        dtype: string or `keras.mixed_precision.DTypePolicy`. The dtype policy (`"float32"`, `"mixed_bfloat16"`,
            ...); the halting head always computes in float32. Defaults to `None` (Keras's global policy).

    Example:
    >>> import numpy as np
    >>> backbone = TRMBackbone(vocabulary_size=11, sequence_length=16, hidden_dim=64, num_heads=4, num_layers=2,
    ...                        H_cycles=2, L_cycles=3, num_puzzle_identifiers=5, puzzle_emb_len=4)
    >>> z_H, z_L = (keras.ops.convert_to_numpy(z) for z in backbone.initial_states(2))   # (B, P + L, D) each
    >>> out = backbone({"z_H": z_H, "z_L": z_L, "inputs": np.ones((2, 16), "int32"),
    ...                 "puzzle_identifiers": np.array([1, 2], "int32")})
    >>> {name: tuple(value.shape) for name, value in sorted(out.items())}
    {'logits': (2, 16, 11), 'q_continue_logits': (2,), 'q_halt_logits': (2,), 'z_H': (2, 20, 64), 'z_L': (2, 20, 64)}
    """

    def __init__(
        self,
        vocabulary_size,
        sequence_length,
        hidden_dim=512,
        num_heads=8,
        num_layers=2,
        H_cycles=3,
        L_cycles=6,
        expansion=4.0,
        mlp_t=False,
        pos_encodings="rope",
        num_puzzle_identifiers=1,
        puzzle_emb_ndim=None,
        puzzle_emb_len=16,
        rope_theta=10000.0,
        norm_epsilon=1e-5,
        dtype=None,
        **kwargs,
    ):
        if puzzle_emb_ndim is None:
            puzzle_emb_ndim = hidden_dim
        P = puzzle_positions(puzzle_emb_ndim, hidden_dim, puzzle_emb_len)
        S = P + sequence_length

        # === Layers ===
        self.puzzle_embedding = None
        if puzzle_emb_ndim > 0:
            self.puzzle_embedding = PuzzleEmbedding(
                num_puzzle_identifiers, puzzle_emb_ndim, dtype=dtype, name="puzzle_embedding"
            )
        self.input_embedding = TRMInputEmbedding(
            vocabulary_size, hidden_dim, sequence_length, P, puzzle_emb_ndim, pos_encodings,
            dtype=dtype, name="input_embedding",
        )  # fmt: skip
        self.recursion = TRMRecursion(
            hidden_dim, num_heads, num_layers, H_cycles, L_cycles, S,
            expansion=expansion, mlp_t=mlp_t, pos_encodings=pos_encodings, rope_theta=rope_theta,
            norm_epsilon=norm_epsilon, dtype=dtype, name="recursion",
        )  # fmt: skip
        self.lm_head = keras.layers.Dense(
            vocabulary_size,
            use_bias=False,
            kernel_initializer=fan_in_trunc_normal(hidden_dim),
            dtype=dtype,
            name="lm_head",
        )
        # The halting head computes in float32 whatever the policy; a per-layer policy map (quantization) still applies.
        q_head_dtype = dtype if isinstance(dtype, keras.dtype_policies.DTypePolicyMap) else "float32"
        self.q_head = keras.layers.Dense(
            2,
            kernel_initializer="zeros",
            bias_initializer=keras.initializers.Constant(-5.0),
            dtype=q_head_dtype,
            name="q_head",
        )
        self.puzzle_emb_positions = P

        # === Functional Model ===
        z_H_input = keras.Input(shape=(S, hidden_dim), name="z_H")
        z_L_input = keras.Input(shape=(S, hidden_dim), name="z_L")
        token_input = keras.Input(shape=(sequence_length,), dtype="int32", name="inputs")
        id_input = keras.Input(shape=(), dtype="int32", name="puzzle_identifiers")
        rows = self.puzzle_embedding(id_input) if self.puzzle_embedding is not None else None
        outputs = self.supervision_step(z_H_input, z_L_input, token_input, rows)
        super().__init__(
            inputs={"z_H": z_H_input, "z_L": z_L_input, "inputs": token_input, "puzzle_identifiers": id_input},
            outputs=outputs,
            dtype=dtype,
            **kwargs,
        )

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.sequence_length = sequence_length
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.num_layers = num_layers
        self.H_cycles = H_cycles
        self.L_cycles = L_cycles
        self.expansion = expansion
        self.mlp_t = mlp_t
        self.pos_encodings = pos_encodings
        self.num_puzzle_identifiers = num_puzzle_identifiers
        self.puzzle_emb_ndim = puzzle_emb_ndim
        self.puzzle_emb_len = puzzle_emb_len
        self.rope_theta = rope_theta
        self.norm_epsilon = norm_epsilon

    def supervision_step(self, z_H, z_L, token_ids, puzzle_vectors):
        """One supervision step from the puzzle vectors already gathered from the table (B, E).

        The solver's train step calls this directly so that the gradient of the puzzle embedding is taken with
        respect to the batch's rows only, never the whole table.
        """
        x = self.input_embedding(token_ids, puzzle_vectors)  # (B, P + L, D)
        z_H, z_L = self.recursion(z_H, z_L, x)
        # Logits in float32 under mixed precision (the matmul itself runs in the compute dtype).
        logits = ops.cast(self.lm_head(z_H)[:, self.puzzle_emb_positions :], "float32")  # (B, L, V)
        q = self.q_head(z_H[:, 0])  # (B, 2), float32
        return {
            "z_H": ops.stop_gradient(z_H),
            "z_L": ops.stop_gradient(z_L),
            "logits": logits,
            "q_halt_logits": q[:, 0],
            "q_continue_logits": q[:, 1],
        }

    def initial_states(self, batch_size):
        """z_H and z_L at the start of a puzzle: H_init and L_init broadcast to (batch_size, P + L, D)."""
        return self.recursion.initial_states(batch_size)

    @property
    def puzzle_embedding_table(self):
        """The (num_puzzle_identifiers, E) variable trained by sign-SGD, or None."""
        return None if self.puzzle_embedding is None else self.puzzle_embedding.embeddings

    # ------------------------------------------------------------------ presets
    puzzle_spec = None  # the `PuzzleSpec` of the preset the model came from (or that `save_to_preset` writes)

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        """keras-hub's `from_preset`, plus the preset's `PuzzleSpec` (`model.puzzle_spec`); an architecture-only
        preset (no weights shipped) loads randomly initialised."""
        preset = preset_str(preset)
        spec = load_puzzle_spec(preset)
        if is_architecture_only(preset, spec):
            load_weights = False
        model = super().from_preset(preset, load_weights=load_weights, **kwargs)
        model.puzzle_spec = spec
        return model

    def save_to_preset(self, preset_dir, max_shard_size=10):
        """keras-hub's `save_to_preset`, plus the `PuzzleSpec` files under `assets/trm/`."""
        preset_dir = preset_str(preset_dir)
        super().save_to_preset(preset_dir, max_shard_size=max_shard_size)
        write_spec(self, preset_dir)
        _name_tasks_in_metadata(self, preset_dir)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size,
            sequence_length=self.sequence_length,
            hidden_dim=self.hidden_dim,
            num_heads=self.num_heads,
            num_layers=self.num_layers,
            H_cycles=self.H_cycles,
            L_cycles=self.L_cycles,
            expansion=self.expansion,
            mlp_t=self.mlp_t,
            pos_encodings=self.pos_encodings,
            num_puzzle_identifiers=self.num_puzzle_identifiers,
            puzzle_emb_ndim=self.puzzle_emb_ndim,
            puzzle_emb_len=self.puzzle_emb_len,
            rope_theta=self.rope_theta,
            norm_epsilon=self.norm_epsilon,
        )
        return config


def _name_tasks_in_metadata(backbone, preset_dir):
    """keras-hub names a task by its first base class (the solver's is a mixin); name the TRM tasks themselves."""
    path = os.path.join(preset_dir, METADATA_FILE)
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        metadata = json.load(f)
    metadata["tasks"] = sorted({t.__name__ for t in list_subclasses(Task) if t.backbone_cls is type(backbone)})
    with open(path, "w", encoding="utf-8") as f:
        json.dump(metadata, f, indent=4)
