"""`BackendSolverTrainer`: the solver's trainer for the running Keras backend (chosen here, once)."""

import keras

_BACKEND = keras.backend.backend()

if _BACKEND == "jax":
    from keras_trm.backend.jax_trainer import JAXSolverTrainer as BackendSolverTrainer
elif _BACKEND == "tensorflow":
    from keras_trm.backend.tensorflow_trainer import TensorFlowSolverTrainer as BackendSolverTrainer
elif _BACKEND == "torch":
    from keras_trm.backend.torch_trainer import TorchSolverTrainer as BackendSolverTrainer
else:
    raise ImportError(f"keras-trm supports the jax, tensorflow and torch backends, not {_BACKEND!r}.")

__all__ = ["BackendSolverTrainer"]
