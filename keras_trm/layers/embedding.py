"""TRM's input embedding: puzzle vectors prepended to token embeddings, positions, and the sqrt(D) scale."""

import math

import keras
from keras import ops

from keras_trm.layers.initializers import trunc_normal


def puzzle_positions(puzzle_emb_ndim, hidden_dim, puzzle_emb_len):
    """P: `puzzle_emb_len`, or ceil(puzzle_emb_ndim / hidden_dim) when it is 0 (the official rule)."""
    if puzzle_emb_len:
        return int(puzzle_emb_len)
    return -(puzzle_emb_ndim // -hidden_dim)


@keras.saving.register_keras_serializable(package="keras_trm")
class PuzzleEmbedding(keras.layers.Layer):
    """A table of one learned vector of size E per puzzle identifier, starting at zero.

    The table is trained by sign-SGD on the rows of the batch (`keras_trm.training`), never by the main optimizer,
    so it is a non-trainable variable of Keras (and is left out of the EMA, as in the official runs).

    Example:
    >>> import numpy as np
    >>> import keras
    >>> rows = PuzzleEmbedding(num_identifiers=5, embedding_dim=64)(np.array([0, 3]))
    >>> tuple(rows.shape), float(np.abs(keras.ops.convert_to_numpy(rows)).max())   # every row starts at zero
    ((2, 64), 0.0)
    """

    def __init__(self, num_identifiers, embedding_dim, **kwargs):
        super().__init__(**kwargs)
        self.num_identifiers = num_identifiers
        self.embedding_dim = embedding_dim

    def build(self, input_shape=None):
        self.embeddings = self.add_weight(
            shape=(self.num_identifiers, self.embedding_dim),
            initializer="zeros",
            trainable=False,
            name="embeddings",
        )
        self.built = True

    def call(self, identifiers):
        # identifiers: (B,) -> (B, E)
        return ops.cast(ops.take(self.embeddings, ops.cast(identifiers, "int32"), axis=0), self.compute_dtype)

    def compute_output_spec(self, identifiers):
        return keras.KerasTensor(tuple(identifiers.shape) + (self.embedding_dim,), self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(num_identifiers=self.num_identifiers, embedding_dim=self.embedding_dim)
        return config


@keras.saving.register_keras_serializable(package="keras_trm")
class TRMInputEmbedding(keras.layers.Layer):
    """x = sqrt(D) * [puzzle vectors as P positions ; token embeddings] (+ learned positions).

    The puzzle vector (B, E) is zero-padded to P * D and reshaped to P positions placed before the L tokens. With
    `pos_encodings="learned"` a (P + L, D) table is added and the sum scaled by 1/sqrt(2); "rope" and "none" add
    nothing here.

    Args:
        vocabulary_size: V.
        hidden_dim: D.
        sequence_length: L (puzzle tokens).
        puzzle_emb_len: P.
        puzzle_emb_ndim: E (0 for no puzzle embedding).
        pos_encodings: "rope", "learned" or "none".

    Example:
    >>> import numpy as np
    >>> emb = TRMInputEmbedding(11, 64, sequence_length=16, puzzle_emb_len=4, puzzle_emb_ndim=64)
    >>> x = emb(np.ones((2, 16), "int32"), np.zeros((2, 64), "float32"))   # P = 4 puzzle positions, then L = 16
    >>> tuple(x.shape)
    (2, 20, 64)
    """

    def __init__(
        self,
        vocabulary_size,
        hidden_dim,
        sequence_length,
        puzzle_emb_len,
        puzzle_emb_ndim,
        pos_encodings="rope",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if pos_encodings not in ("rope", "learned", "none"):
            raise ValueError(f"pos_encodings must be 'rope', 'learned' or 'none', got {pos_encodings!r}.")
        if puzzle_emb_ndim > puzzle_emb_len * hidden_dim:
            raise ValueError(
                f"puzzle_emb_ndim ({puzzle_emb_ndim}) does not fit in puzzle_emb_len ({puzzle_emb_len}) positions "
                f"of hidden_dim ({hidden_dim})."
            )
        self.vocabulary_size = vocabulary_size
        self.hidden_dim = hidden_dim
        self.sequence_length = sequence_length
        self.puzzle_emb_len = puzzle_emb_len
        self.puzzle_emb_ndim = puzzle_emb_ndim
        self.pos_encodings = pos_encodings
        self.scale = math.sqrt(hidden_dim)
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size,
            hidden_dim,
            embeddings_initializer=trunc_normal(1.0 / self.scale),
            dtype=self.dtype_policy,
            name="token_embedding",
        )

    def build(self, token_ids_shape, puzzle_vectors_shape=None):
        self.token_embedding.build(token_ids_shape)
        if self.pos_encodings == "learned":
            self.position_embeddings = self.add_weight(
                shape=(self.puzzle_emb_len + self.sequence_length, self.hidden_dim),
                initializer=trunc_normal(1.0 / self.scale),
                name="position_embeddings",
            )
        self.built = True

    def call(self, token_ids, puzzle_vectors=None):
        x = self.token_embedding(ops.cast(token_ids, "int32"))  # (B, L, D)
        if self.puzzle_emb_len:
            batch = ops.shape(x)[0]
            if puzzle_vectors is None or self.puzzle_emb_ndim == 0:
                puzzle = ops.zeros((batch, self.puzzle_emb_len, self.hidden_dim), x.dtype)
            else:
                pad = self.puzzle_emb_len * self.hidden_dim - self.puzzle_emb_ndim
                puzzle = ops.cast(puzzle_vectors, x.dtype)  # (B, E)
                if pad:
                    puzzle = ops.pad(puzzle, ((0, 0), (0, pad)))
                puzzle = ops.reshape(puzzle, (batch, self.puzzle_emb_len, self.hidden_dim))
            x = ops.concatenate([puzzle, x], axis=1)  # (B, P + L, D)
        if self.pos_encodings == "learned":
            x = 0.707106781 * (x + ops.cast(self.position_embeddings, x.dtype))
        return self.scale * x

    def compute_output_spec(self, token_ids, puzzle_vectors=None):
        shape = (token_ids.shape[0], self.puzzle_emb_len + self.sequence_length, self.hidden_dim)
        return keras.KerasTensor(shape, self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size,
            hidden_dim=self.hidden_dim,
            sequence_length=self.sequence_length,
            puzzle_emb_len=self.puzzle_emb_len,
            puzzle_emb_ndim=self.puzzle_emb_ndim,
            pos_encodings=self.pos_encodings,
        )
        return config
