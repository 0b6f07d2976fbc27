"""The only backend-specific code of keras-trm, chosen once here from `keras.backend.backend()`.

Each backend module exposes:
- `no_grad()`: a context in which the framework records nothing for differentiation (the gradient-free
  recursions); a no-op where `stop_gradient` already tells the compiler everything (JAX, TensorFlow).
- `SolverTrainer`: a mixin with the `train_step` of `TRMPuzzleSolver` in that framework's idiom.
"""

import keras

_BACKEND = keras.backend.backend()

if _BACKEND == "jax":
    from keras_trm.backend.jax import SolverTrainer, no_grad  # noqa: F401
elif _BACKEND == "tensorflow":
    from keras_trm.backend.tensorflow import SolverTrainer, no_grad  # noqa: F401
elif _BACKEND == "torch":
    from keras_trm.backend.torch import SolverTrainer, no_grad  # noqa: F401
else:
    raise ImportError(f"keras-trm supports the jax, tensorflow and torch backends, not {_BACKEND!r}.")
