"""Backend-specific pieces for this backend (see keras_trm/backend/__init__.py)."""

import contextlib


def no_grad():
    """Nothing to do: `ops.stop_gradient` on the results is enough for this backend's compiler."""
    return contextlib.nullcontext()


class SolverTrainer:
    pass
