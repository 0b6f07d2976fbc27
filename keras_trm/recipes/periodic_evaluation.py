"""PeriodicEvaluation: the Keras callback that evaluates a recipe's run at the end of every evaluation interval."""

import time

import keras

from keras_trm.recipes.evaluate import format_report


class PeriodicEvaluation(keras.callbacks.Callback):
    """Runs `evaluate_fn()` at the end of every Keras epoch (one evaluation interval) and ends training after
    `total_steps` optimizer steps.

    Each report gets the optimizer "step" and the "seconds" it took, is kept in `reports`, logged through `logger`,
    and its float values are added to the epoch's logs as `val_<name>` (ARC's `pass@K` as
    `val_pass@K/<voting>`), where TensorBoard and the checkpoint callback see them.

    Args:
        evaluate_fn: callable. () -> report dict.
        steps_per_epoch: int. Optimizer steps per Keras epoch.
        logger: callable or None. Called with one line per evaluation (default `print`; None: silent).
        total_steps: int or None. Stop training after this many optimizer steps (default None: never).
        reports: list or None. Reports of earlier evaluations of the same run (a resumed run keeps them; default
            None: none).
        on_report: callable or None. Called with the list of reports after each evaluation (e.g. to write them to
            results.json as they come; default None).
    """

    def __init__(self, evaluate_fn, steps_per_epoch, logger=print, total_steps=None, reports=None, on_report=None):
        super().__init__()
        self.evaluate_fn = evaluate_fn
        self.steps_per_epoch = steps_per_epoch
        self.logger = logger
        self.total_steps = total_steps
        self.reports = list(reports or [])
        self.on_report = on_report
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.total_steps is not None and self.epoch * self.steps_per_epoch + batch + 1 >= self.total_steps:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        step = min((epoch + 1) * self.steps_per_epoch, self.total_steps or float("inf"))
        t = time.time()
        report = dict(self.evaluate_fn(), step=int(step), seconds=round(time.time() - t, 2))
        self.reports.append(report)
        if self.on_report is not None:
            self.on_report(self.reports)
        if self.logger:
            self.logger(f"[eval @ step {step}] " + format_report(report).replace("\n", " |"))
        if logs is not None:
            for k, v in report.items():
                if isinstance(v, float):
                    if k.startswith("pass@") and report.get("voting"):  # ARC: pass@K/aggregated ...
                        k = f"{k}/{report['voting']}"
                    logs[f"val_{k}"] = v
