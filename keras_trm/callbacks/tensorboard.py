"""TensorBoard logging for TRM runs on any backend: metrics, learning rates, ARC pass@K and pictures.

Events are written with the `tensorboard` package's own event-file writer and protocol buffers, so nothing here
needs TensorFlow (works the same under KERAS_BACKEND=jax, tensorflow or torch). Layout under `log_dir`:
`train/` (per-step and per-epoch training metrics, `learning_rate`, `puzzle_emb_learning_rate`) and `eval/`
(validation metrics without the `val_` prefix, extra evaluation scalars such as `pass@2/aggregated`, and images).

Example (a tiny solver, one epoch on a few generated 4x4 Sudoku; for ARC pass `eval_fn=arc_pass_at_k(evaluator,
test_batches)`, and `EMAEvaluation()` with `compile(use_ema=True)` to draw with the EMA weights):

    >>> from keras_trm.data import PuzzleBatches, PuzzleDataset, build_sudoku_dataset, make_small_sudoku_csv
    >>> from keras_trm.models import TRMBackbone, TRMPuzzleSolver
    >>> _ = make_small_sudoku_csv("csv", n=4, train_count=16, test_count=4, seed=0)
    >>> _ = build_sudoku_dataset("sudoku4", train_csv="csv/train.csv", test_csv="csv/test.csv", progress=False)
    >>> train = PuzzleBatches(PuzzleDataset("sudoku4", "train"), 8, seed=0, steps_per_epoch=2)
    >>> val = PuzzleBatches(PuzzleDataset("sudoku4", "test"), 4, mode="eval")
    >>> solver = TRMPuzzleSolver(TRMBackbone(vocabulary_size=6, sequence_length=16, hidden_dim=16, num_heads=2,
    ...                                      num_layers=1, H_cycles=1, L_cycles=1, puzzle_emb_len=1), halt_max_steps=2)
    >>> solver.compile(learning_rate=1e-3, warmup_steps=2)
    >>> tb = TRMTensorBoard("runs/sudoku/tb", examples=val[0], benchmark="sudoku", grid_shape=(4, 4),
    ...                     use_ema=False, eval_fn=lambda solver: {"my_score": 0.25})
    >>> _ = solver.fit(train, epochs=1, validation_data=val, shuffle=False, verbose=0, callbacks=[tb])

    Then `tensorboard --logdir runs/sudoku/tb` shows (read back here with tensorboard's own reader):

    >>> from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    >>> train_events = EventAccumulator("runs/sudoku/tb/train").Reload()
    >>> sorted(tag for tag in train_events.Tags()["scalars"] if not tag.startswith("batch_"))  # and batch_*
    ['epoch_accuracy', 'epoch_exact_accuracy', 'epoch_lm_loss', 'epoch_loss', 'epoch_q_halt_accuracy',
     'epoch_q_halt_loss', 'epoch_steps', 'learning_rate', 'puzzle_emb_learning_rate']
    >>> eval_events = EventAccumulator("runs/sudoku/tb/eval").Reload()
    >>> sorted(eval_events.Tags()["scalars"]), sorted(eval_events.Tags()["images"])
    (['accuracy', 'exact_accuracy', 'lm_loss', 'loss', 'my_score', 'q_halt_accuracy', 'q_halt_loss', 'steps'],
     ['evolution', 'predictions'])
"""

import io
import os
import time

import keras
import numpy as np
from keras import ops

from keras_trm.callbacks.ema import swap_ema_weights
from keras_trm.visualize import render_evolution, render_puzzle_row, render_tokens, stack_rows


class SummaryWriter:
    """Minimal TensorBoard event writer (scalars and RGB images) without TensorFlow.

    Example:
        >>> w = SummaryWriter("logs")
        >>> w.scalar("loss", 0.5, step=1); w.image("picture", np.zeros((4, 4, 3), "uint8"), step=1); w.close()
        >>> from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
        >>> events = EventAccumulator("logs").Reload()                 # what TensorBoard reads
        >>> events.Tags()["scalars"], events.Tags()["images"], events.Scalars("loss")[0].value
        (['loss'], ['picture'], 0.5)
    """

    def __init__(self, log_dir):
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        os.makedirs(log_dir, exist_ok=True)
        self._writer = EventFileWriter(log_dir)

    def _add(self, value, step):
        from tensorboard.compat.proto import event_pb2, summary_pb2

        event = event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary_pb2.Summary(value=[value]))
        self._writer.add_event(event)

    def scalar(self, tag, value, step):
        from tensorboard.compat.proto import summary_pb2

        self._add(summary_pb2.Summary.Value(tag=tag, simple_value=float(value)), step)

    def image(self, tag, array, step):
        """An (H, W, 3) uint8 picture, stored as PNG."""
        from PIL import Image
        from tensorboard.compat.proto import summary_pb2

        array = np.asarray(array, dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="PNG")
        image = summary_pb2.Summary.Image(
            height=array.shape[0], width=array.shape[1], colorspace=3, encoded_image_string=buffer.getvalue()
        )
        self._add(summary_pb2.Summary.Value(tag=tag, image=image), step)

    def flush(self):
        self._writer.flush()

    def close(self):
        self._writer.close()


def _scalar(value):
    try:
        return float(np.asarray(ops.convert_to_numpy(value)).reshape(()))
    except (TypeError, ValueError):
        return None


def learning_rates(solver):
    """{"learning_rate": ..., "puzzle_emb_learning_rate": ...} at the optimizer's current step."""
    out = {}
    opt = solver.optimizer
    if opt is not None:
        step = opt.iterations
        lr = opt._learning_rate
        if isinstance(lr, keras.optimizers.schedules.LearningRateSchedule):
            out["learning_rate"] = _scalar(lr(step))
        else:
            out["learning_rate"] = _scalar(opt.learning_rate)
        emb = getattr(solver, "embedding_optimizer", None)
        if emb is not None:  # the train step drives the table's schedule with the main optimizer's step
            out["puzzle_emb_learning_rate"] = _scalar(emb.learning_rate_at(step))
    return out


def arc_pass_at_k(evaluator, batches):
    """An `eval_fn` for `TRMTensorBoard`: predicts every batch, returns the ARC evaluator's pass@K.

    Each call is one evaluation of the same evaluator (`ARCEvaluator.begin_evaluation`): with its default
    ``voting="aggregated"`` (the official one) the votes of every call add up, with ``"per_evaluation"`` each call
    starts afresh. The scalars say which: "pass@K/aggregated" or "pass@K/per_evaluation", and "voted_evaluations"
    (how many evaluations the votes come from). An evaluator without a voting mode (only `reset`,
    `update_from_outputs` and `result`) is reset at each call and its keys are logged as they are.
    """
    voting = getattr(evaluator, "voting", None)

    def eval_fn(solver):
        if voting is None:
            evaluator.reset()
        else:
            evaluator.begin_evaluation()
        for i in range(len(batches)):
            x = batches[i][0]
            out = solver.predict_on_batch(x)
            evaluator.update_from_outputs(out, x)
        result = evaluator.result()
        if voting is None:
            return result
        named = {f"{k}/{voting}" if k.startswith("pass@") else k: v for k, v in result.items()}
        named["voted_evaluations"] = float(evaluator.evaluations)
        return named

    return eval_fn


def prediction_pictures(solver, x, y, benchmark, grid_shape, max_examples=4, evolution=True):
    """Pictures of a few examples: puzzle | prediction | truth, and the answer after each supervision step (wrong
    cells in red, each step's halt probability sigmoid(halt logit) under it).

    Returns {"predictions": (H, W, 3), "evolution": (H, W, 3)} uint8 arrays.
    """
    inputs = np.asarray(x["inputs"])[:max_examples]
    ids = np.asarray(x["puzzle_identifiers"])[:max_examples]
    labels = np.asarray(y)[:max_examples]
    steps = solver.supervision_steps(inputs, ids)
    answers = [np.asarray(ops.convert_to_numpy(ops.argmax(s["logits"], axis=-1))) for s in steps]  # S x (n, L)
    halt_p = [np.asarray(ops.convert_to_numpy(ops.sigmoid(s["q_halt_logits"]))) for s in steps]  # S x (n,)

    def draw(tokens, i):
        return render_tokens(tokens, benchmark, grid_shape, givens=inputs[i], labels=labels[i])

    rows = [
        render_puzzle_row(
            [
                render_tokens(inputs[i], benchmark, grid_shape),
                draw(answers[-1][i], i),
                render_tokens(labels[i], benchmark, grid_shape),
            ],
            ["puzzle", "prediction", "truth"],
        )
        for i in range(len(inputs))
    ]
    pictures = {"predictions": stack_rows(rows)}
    if evolution:
        strips = [
            render_evolution(
                [a[i] for a in answers], lambda t, i=i: draw(t, i), halt_probabilities=[p[i] for p in halt_p]
            )
            for i in range(len(inputs))
        ]
        pictures["evolution"] = stack_rows(strips, gap=8)
    return pictures


class TRMTensorBoard(keras.callbacks.Callback):
    """Logs every metric, the learning rates, extra evaluation scalars and prediction pictures.

    Args:
        log_dir: root folder (`train/` and `eval/` inside).
        update_freq: log training metrics and learning rates every this many optimizer steps ("epoch": only at
            epoch ends).
        examples: `(x, y)` or `(x, y, sample_weight)` of a few fixed examples to draw at each evaluation.
        benchmark, grid_shape: how to draw them (as `keras_trm.visualize.render_tokens`); default from nothing:
            pictures are skipped without `benchmark`.
        eval_fn: `fn(solver) -> {name: float}` run at each evaluation (e.g. `arc_pass_at_k(evaluator, batches)`).
        eval_every: epochs between evaluations (pictures and `eval_fn`); validation metrics are logged whenever
            present in the epoch logs.
        use_ema: draw and run `eval_fn` with the EMA weights (what evaluation uses, as in the official runs).
        max_examples: examples drawn.
    """

    def __init__(
        self,
        log_dir,
        update_freq=1,
        examples=None,
        benchmark=None,
        grid_shape=None,
        eval_fn=None,
        eval_every=1,
        use_ema=True,
        max_examples=4,
    ):
        super().__init__()
        self.log_dir = os.fspath(log_dir)
        self.update_freq = update_freq
        self.examples = examples
        self.benchmark = benchmark
        self.grid_shape = grid_shape
        self.eval_fn = eval_fn
        self.eval_every = int(eval_every)
        self.use_ema = use_ema
        self.max_examples = int(max_examples)
        self._writers = {}

    def writer(self, name):
        if name not in self._writers:
            self._writers[name] = SummaryWriter(os.path.join(self.log_dir, name))
        return self._writers[name]

    def _step(self):
        return int(ops.convert_to_numpy(self.model.optimizer.iterations))

    def _log_train(self, prefix, logs, step):
        w = self.writer("train")
        for name, value in (logs or {}).items():
            if not name.startswith("val_") and (v := _scalar(value)) is not None:
                w.scalar(f"{prefix}{name}", v, step)
        for name, value in learning_rates(self.model).items():
            if value is not None:
                w.scalar(name, value, step)

    def on_train_batch_end(self, batch, logs=None):
        if self.update_freq == "epoch":
            return
        step = self._step()
        if step % int(self.update_freq) == 0:
            self._log_train("batch_", logs, step)

    def on_epoch_end(self, epoch, logs=None):
        step = self._step()
        self._log_train("epoch_", logs, step)
        w = self.writer("eval")
        for name, value in (logs or {}).items():
            if name.startswith("val_") and (v := _scalar(value)) is not None:
                w.scalar(name[len("val_") :], v, step)
        if (epoch + 1) % self.eval_every == 0:
            self.evaluate(step)
        for writer in self._writers.values():
            writer.flush()

    def evaluate(self, step):
        """Run `eval_fn` and draw the examples now (EMA weights if `use_ema`), logging at `step`."""
        if self.eval_fn is None and (self.examples is None or self.benchmark is None):
            return
        w = self.writer("eval")
        with swap_ema_weights(self.model) if self.use_ema else _null():
            if self.eval_fn is not None:
                for name, value in self.eval_fn(self.model).items():
                    w.scalar(name, value, step)
            if self.examples is not None and self.benchmark is not None:
                x, y = self.examples[0], self.examples[1]
                pictures = prediction_pictures(self.model, x, y, self.benchmark, self.grid_shape, self.max_examples)
                for name, picture in pictures.items():
                    w.image(name, picture, step)

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


def _null():
    import contextlib

    return contextlib.nullcontext()
