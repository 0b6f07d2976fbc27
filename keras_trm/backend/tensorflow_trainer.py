"""The solver's trainer on TensorFlow: gradients by `tf.GradientTape` (the train step runs in `tf.function`)."""

import tensorflow as tf

from keras_trm.training.trainer import SolverTrainer


def _dense(gradient):
    # Embedding gradients arrive as IndexedSlices; Adam-type updates must see the dense gradient to match the
    # other backends (zero rows still move the moments).
    return tf.convert_to_tensor(gradient) if isinstance(gradient, tf.IndexedSlices) else gradient


class TensorFlowSolverTrainer(SolverTrainer):
    """`SolverTrainer` on TensorFlow (the stateful train step of the base class, XLA by default)."""

    def loss_and_gradients(self, step, puzzle_vectors):
        with tf.GradientTape() as tape:
            if puzzle_vectors is not None:
                tape.watch(puzzle_vectors)
            loss, outputs, parts = self.step_objective(step, puzzle_vectors)
        sources = list(self.trainable_variables) + ([puzzle_vectors] if puzzle_vectors is not None else [])
        grads = [_dense(g) for g in tape.gradient(loss, sources)]
        vector_grads = grads.pop() if puzzle_vectors is not None else None
        return loss, outputs, parts, grads, vector_grads
