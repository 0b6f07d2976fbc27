"""The only backend-specific code of keras-trm.

- `ops.py`: `no_grad()`, the one backend utility the layers use (a context that records nothing for
  differentiation).
- `trainer.py`: picks the solver's trainer for the running Keras backend (the one place the trainer's backend is
  chosen) among `jax_trainer.py`, `tensorflow_trainer.py` and `torch_trainer.py`; each overrides only the gradient
  computation (and, on JAX, the stateless train-step idiom) of the backend-free `keras_trm.training.SolverTrainer`.

Nothing is imported here, so a layer importing `keras_trm.backend.ops` loads no training code.
"""
