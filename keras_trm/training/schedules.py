"""Learning-rate schedules."""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_trm")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to `base_learning_rate`, then cosine decay.

    With `t = step + step_offset`:

    * `t < warmup_steps`: `lr = base * t / max(1, warmup_steps)`;
    * otherwise, with `progress = (t - warmup) / max(1, total - warmup)`:
      `lr = base * (min_ratio + max(0, (1 - min_ratio) * 0.5 *
      (1 + cos(pi * progress))))`.

    This is the official TRM formula (one half-cycle of cosine; like the
    official code, `progress` is not clamped, so steps past `total_steps` climb
    back up the cosine, which training never reaches). Keras calls a
    schedule with `optimizer.iterations`, which is 0 for the first update; the
    official trainer increments its step before computing the rate, so its
    first update uses step 1. `step_offset=1` (the default) reproduces that;
    use 0 to evaluate the formula at the Keras iteration itself.

    Args:
        base_learning_rate: peak rate reached after warm-up.
        warmup_steps: number of warm-up steps.
        total_steps: step at which the cosine reaches `base * min_ratio`.
        min_ratio: final rate as a fraction of the base (1.0 = constant after
            warm-up, as in all official runs).
        step_offset: added to the step the schedule is called with.

    Example:
    >>> sched = WarmupCosine(1.0, warmup_steps=4, total_steps=12, min_ratio=0.0)
    >>> [round(float(sched(s)), 4) for s in (0, 1, 3, 7, 11)]
    [0.25, 0.5, 1.0, 0.5, 0.0]
    """

    def __init__(
        self,
        base_learning_rate,
        warmup_steps,
        total_steps,
        min_ratio=1.0,
        step_offset=1,
    ):
        self.base_learning_rate = float(base_learning_rate)
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps)
        self.min_ratio = float(min_ratio)
        self.step_offset = int(step_offset)

    def __call__(self, step):
        t = ops.cast(step, "float32") + float(self.step_offset)
        base = self.base_learning_rate
        warmup_lr = base * t / float(max(1, self.warmup_steps))
        span = float(max(1, self.total_steps - self.warmup_steps))
        progress = (t - float(self.warmup_steps)) / span
        cosine = (1.0 - self.min_ratio) * 0.5 * (1.0 + ops.cos(math.pi * progress))
        decay_lr = base * (self.min_ratio + ops.maximum(cosine, 0.0))
        return ops.where(t < float(self.warmup_steps), warmup_lr, decay_lr)

    def get_config(self):
        return {
            "base_learning_rate": self.base_learning_rate,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
            "min_ratio": self.min_ratio,
            "step_offset": self.step_offset,
        }
