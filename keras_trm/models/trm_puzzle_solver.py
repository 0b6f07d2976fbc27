"""TRMPuzzleSolver: the keras-hub Task that trains TRM with deep supervision and halting, and solves puzzles."""

import functools

import keras
import numpy as np
from keras import ops
from keras_hub.models import Task
from keras_hub.src.utils.tensor_utils import convert_to_numpy

from keras_trm.backend.ops import no_grad
from keras_trm.backend.trainer import BackendSolverTrainer
from keras_trm.data.format import IGNORE_LABEL_ID
from keras_trm.evaluation.halting import as_rule, calibrate_halting, rule_config
from keras_trm.evaluation.stepwise import run_stepwise
from keras_trm.models.puzzle_preprocessor import PuzzlePreprocessor, is_text
from keras_trm.models.solver_preset_mixin import SolverPresetMixin
from keras_trm.models.trm_backbone import TRMBackbone
from keras_trm.training.losses import halt_bce, lm_loss_per_row, row_correctness
from keras_trm.training.optimizers import AdamATan2, SignSGDEmbedding
from keras_trm.training.schedules import WarmupCosine

_METRIC_NAMES = ("lm_loss", "q_halt_loss", "accuracy", "exact_accuracy", "q_halt_accuracy", "steps")


@keras.saving.register_keras_serializable(package="keras_trm")
class TRMPuzzleSolver(SolverPresetMixin, BackendSolverTrainer, Task):
    """Solves puzzles with a `TRMBackbone`: deep supervision and learned halting (the paper's ACT).

    Training (`fit`): one optimizer step is one supervision step. The solver keeps a carry between steps (z_H, z_L,
    the step count and halted flag of each row, and the puzzle each row works on); rows that halted take the new
    batch's row at their index and restart from H_init / L_init, running rows keep their puzzle. A row halts at
    `halt_max_steps` (the paper's N_sup) or when its halt logit is positive; with probability
    `halt_exploration_prob` it first draws a minimum number of steps in [2, N_sup]. Loss = lm + 0.5 * q_halt
    (+ 0.5 * q_continue with `no_ACT_continue=False`), summed over rows and divided by the batch size.

    Evaluation and prediction (`evaluate`, `predict`, `solver(x)`): a fresh carry per batch and `halt_max_steps`
    supervision steps for every row; with a halting rule (`halt_at_inference`) a row stops once the rule says so (and
    the batch stops when all rows have; `keras_trm.evaluation.solve` refills halted rows' slots instead). Outputs:
    `logits` (B, L, V), `q_halt_logits` (B,), `q_continue_logits` (B,) and `steps` (B,) used.

    Batches are `({"inputs": (B, L), "puzzle_identifiers": (B,)}, labels (B, L), sample_weight (B,))`, with label 0
    ignored and padding rows weighted 0.

    Args:
        backbone: a `TRMBackbone`.
        halt_max_steps: N_sup (16).
        halt_exploration_prob: probability of drawing a minimum halting step (0.1).
        no_ACT_continue: halt on the halt logit alone (TRM, default); False uses HRM's rule (halt > continue) and
            trains the continue logit against a gradient-free second pass.
        token_loss: str. The per-token cross-entropy of the lm loss: `"stablemax"` (the paper's) or `"softmax"`.
            Defaults to `"stablemax"`. (Saved configs from before this name, with a `loss` key, still load.)
        halt_at_inference: the halting rule at inference: False (every row runs `halt_max_steps` steps, the
            official evaluation; default), True (stop once the halt logit is positive), or a
            `keras_trm.evaluation.HaltingRule` (a confidence threshold and/or "the answer did not change for k
            steps") or its config dict, e.g. the one `calibrate_halting` chose. Saved in the config and presets.
        seed: seed of the exploration draws.
        preprocessor: a `PuzzlePreprocessor` (`SudokuPreprocessor`, `MazePreprocessor`, `ARCPreprocessor`) that
            turns raw puzzles into token batches and decodes the answers (None: token batches only; presets load
            theirs). Token batches pass through a preprocessor unchanged.
        compile: compile with the official defaults (`compile()`), as keras-hub tasks do (True); call
            `compile(...)` again to change them.

    Example:
    >>> import numpy as np
    >>> backbone = TRMBackbone(vocabulary_size=6, sequence_length=16, hidden_dim=32, num_heads=2,
    ...                        H_cycles=2, L_cycles=2, puzzle_emb_len=2)
    >>> solver = TRMPuzzleSolver(backbone, halt_max_steps=4)
    >>> solver.compile(learning_rate=1e-3, warmup_steps=10)
    >>> x = {"inputs": np.random.randint(1, 6, (8, 16)).astype("int32"),
    ...      "puzzle_identifiers": np.zeros((8,), "int32")}
    >>> history = solver.fit(x, x["inputs"], batch_size=8, epochs=2, verbose=0)
    >>> sorted(history.history), len(history.history["loss"])  # one value per epoch
    (['accuracy', 'exact_accuracy', 'lm_loss', 'loss', 'q_halt_accuracy', 'q_halt_loss', 'steps'], 2)
    >>> out = solver.predict(x, batch_size=8, verbose=0)
    >>> {k: tuple(v.shape) for k, v in sorted(out.items())}
    {'logits': (8, 16, 6), 'q_continue_logits': (8,), 'q_halt_logits': (8,), 'steps': (8,)}
    >>> np.asarray(out["steps"]).tolist()  # halt_max_steps supervision steps for every row at inference
    [4, 4, 4, 4, 4, 4, 4, 4]

    A preset solves raw puzzles through its preprocessor and decodes the answers (see `predict`):
    >>> solver = TRMPuzzleSolver.from_preset("trm_sudoku_4x4")
    >>> out = solver.predict(["1..4........2..1"], verbose=0)
    >>> out["answers"], out["valid"].tolist(), out["steps"].tolist(), bool(out["confidence"][0] > 0.5)
    (['1234341241232341'], [True], [4], True)
    """

    backbone_cls = TRMBackbone
    preprocessor_cls = PuzzlePreprocessor
    _inputs_struct = {"inputs": None, "puzzle_identifiers": None}  # the token batch (keras-hub's run_task_test)

    def __init__(
        self,
        backbone,
        halt_max_steps=16,
        halt_exploration_prob=0.1,
        no_ACT_continue=True,
        token_loss="stablemax",
        halt_at_inference=False,
        seed=None,
        preprocessor=None,
        **kwargs,
    ):
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        compile = kwargs.pop("compile", True)
        super().__init__(compile=False, **kwargs)  # compiled below, once the settings `compile` reads are set
        self.backbone = backbone  # track it again: on torch the assignment before __init__ is not tracked

        # === Config ===
        self.halt_max_steps = int(halt_max_steps)
        self.halt_exploration_prob = float(halt_exploration_prob)
        self.no_ACT_continue = bool(no_ACT_continue)
        self.token_loss = token_loss  # not `loss`: Keras's trainer owns `self.loss` (compile's loss)
        self.halt_at_inference = halt_at_inference
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed, name="exploration_seed")
        self.carry_batch_size = None
        self.embedding_optimizer = None
        self.built = True  # the backbone is functional and already built

        # === Default compilation (keras-hub tasks compile themselves; here with the official defaults) ===
        if compile:
            self.compile()

    # ------------------------------------------------------------------ compile
    def compile(
        self,
        optimizer="auto",
        learning_rate=1e-4,
        weight_decay=1.0,
        puzzle_emb_learning_rate=None,
        puzzle_emb_weight_decay=None,
        warmup_steps=2000,
        total_steps=None,
        lr_min_ratio=1.0,
        beta_1=0.9,
        beta_2=0.95,
        use_ema=False,
        ema_momentum=0.999,
        **kwargs,
    ):
        """Set up the official optimisers.

        `optimizer="auto"` builds AdamATan2 with (beta_1, beta_2), decoupled `weight_decay`, optional EMA, on a
        warm-up + cosine schedule; the puzzle-embedding table gets sign-SGD with its own learning rate and decay
        (defaults: the main ones) on the same schedule shape. Any Keras optimizer can be passed instead.
        """
        total = total_steps if total_steps is not None else max(warmup_steps, 1) * 10**6

        def schedule(base):
            return WarmupCosine(base, warmup_steps=warmup_steps, total_steps=total, min_ratio=lr_min_ratio)

        if optimizer == "auto":
            optimizer = AdamATan2(
                learning_rate=schedule(learning_rate),
                beta_1=beta_1,
                beta_2=beta_2,
                weight_decay=weight_decay,
                use_ema=use_ema,
                ema_momentum=ema_momentum,
            )
        emb_lr = learning_rate if puzzle_emb_learning_rate is None else puzzle_emb_learning_rate
        emb_wd = weight_decay if puzzle_emb_weight_decay is None else puzzle_emb_weight_decay
        self.embedding_optimizer = SignSGDEmbedding(learning_rate=schedule(emb_lr), weight_decay=emb_wd)
        kwargs.setdefault("jit_compile", keras.backend.backend() != "torch")
        super().compile(optimizer=optimizer, **kwargs)
        self._metric_trackers = {name: keras.metrics.Mean(name=name) for name in _METRIC_NAMES}
        if not self.no_ACT_continue:
            self._metric_trackers["q_continue_loss"] = keras.metrics.Mean(name="q_continue_loss")

    @property
    def halt_at_inference(self):
        """The halting rule at inference: a `HaltingRule`, or None (fixed `halt_max_steps` steps)."""
        return self._halt_rule

    @halt_at_inference.setter
    def halt_at_inference(self, halt):
        rule = as_rule(halt)
        if rule != getattr(self, "_halt_rule", None):
            self.predict_function = self.test_function = None  # the compiled loop holds the rule
        self._halt_rule = rule

    @property
    def metrics(self):
        trackers = list(getattr(self, "_metric_trackers", {}).values())
        loss_tracker = getattr(self, "_loss_tracker", None)
        return ([loss_tracker] if loss_tracker is not None else []) + trackers

    # --------------------------------------------------------------- inference
    def call(self, inputs, training=False):
        """Fresh carry, `halt_max_steps` supervision steps (or the halting rule at inference); final outputs."""
        return self.solve(inputs["inputs"], inputs["puzzle_identifiers"], halt=self.halt_at_inference)

    def solve(self, token_ids, puzzle_identifiers, halt=None, max_steps=None):
        """Runs supervision steps from a fresh carry; returns the last outputs of every row and its steps used.

        `halt`: a halting rule as `halt_at_inference` takes (None / False: every row runs `max_steps` steps).
        """
        rule = as_rule(halt)
        halt = rule is not None
        backbone = self.backbone
        max_steps = self.halt_max_steps if max_steps is None else int(max_steps)
        token_ids = ops.cast(token_ids, "int32")
        batch = ops.shape(token_ids)[0]
        vectors = self.puzzle_vectors(puzzle_identifiers)
        z_H, z_L = backbone.initial_states(batch)
        first = backbone.supervision_step(z_H, z_L, token_ids, vectors)
        steps = ops.ones((batch,), "int32")
        unchanged = ops.zeros((batch,), "int32")  # steps for which the answer has not changed

        def stops(q_halt, unchanged):  # the rule (keras_trm.evaluation.HaltingRule.stops, on halt logits)
            if rule is None:
                return ops.zeros((batch,), "bool")
            stop = ops.greater(q_halt, rule.logit) if rule.threshold is not None else ops.zeros((batch,), "bool")
            return ops.logical_or(stop, ops.greater_equal(unchanged, rule.patience)) if rule.patience else stop

        halted = stops(first["q_halt_logits"], unchanged)
        state = (
            ops.convert_to_tensor(1, "int32"), first["z_H"], first["z_L"], first["logits"],
            first["q_halt_logits"], first["q_continue_logits"], steps, unchanged, halted,
        )  # fmt: skip

        def cond(i, *state):
            running = ops.logical_not(ops.all(state[-1])) if halt else True
            return ops.logical_and(ops.less(i, max_steps), running)

        def body(i, z_H, z_L, logits, q_halt, q_cont, steps, unchanged, halted):
            out = backbone.supervision_step(z_H, z_L, token_ids, vectors)
            run = ops.logical_not(halted)
            if rule is not None and rule.patience:
                same = ops.all(ops.equal(ops.argmax(out["logits"], -1), ops.argmax(logits, -1)), axis=-1)
                unchanged = ops.where(same, unchanged + 1, 0)

            def keep(new, old):
                if not halt:  # every row runs every step: nothing to mask
                    return new
                mask = ops.reshape(run, (-1,) + (1,) * (len(new.shape) - 1))
                return ops.where(mask, new, old)

            new_halted = ops.logical_or(halted, stops(out["q_halt_logits"], unchanged)) if halt else halted
            return (
                i + 1, keep(out["z_H"], z_H), keep(out["z_L"], z_L), keep(out["logits"], logits),
                keep(out["q_halt_logits"], q_halt), keep(out["q_continue_logits"], q_cont),
                steps + ops.cast(run, "int32"), unchanged, new_halted,
            )  # fmt: skip

        if max_steps > 1:
            state = ops.while_loop(cond, body, state)
        _, _, _, logits, q_halt, q_cont, steps, _, _ = state
        return {"logits": logits, "q_halt_logits": q_halt, "q_continue_logits": q_cont, "steps": steps}

    def supervision_steps(self, token_ids, puzzle_identifiers, num_steps=None):
        """Every supervision step's outputs from a fresh carry (eager; for inspection and pictures).

        Returns a list of `num_steps` dicts with `z_H`, `z_L`, `logits`, `q_halt_logits`, `q_continue_logits`.
        """
        num_steps = self.halt_max_steps if num_steps is None else num_steps
        token_ids = ops.cast(ops.convert_to_tensor(token_ids), "int32")
        vectors = self.puzzle_vectors(ops.convert_to_tensor(puzzle_identifiers))
        z_H, z_L = self.backbone.initial_states(ops.shape(token_ids)[0])
        outputs = []
        with no_grad():
            for _ in range(num_steps):
                out = self.backbone.supervision_step(z_H, z_L, token_ids, vectors)
                out = {k: ops.stop_gradient(v) for k, v in out.items()}
                z_H, z_L = out["z_H"], out["z_L"]
                outputs.append(out)
        return outputs

    def puzzle_vectors(self, puzzle_identifiers):
        """The batch's (B, E) puzzle vectors from the puzzle-embedding table, or None without a table."""
        if self.backbone.puzzle_embedding is None:
            return None
        return self.backbone.puzzle_embedding(ops.cast(puzzle_identifiers, "int32"))

    # ------------------------------------------------------------- training (hooks of keras_trm.training.trainer)
    def build_carry(self, batch_size):
        """Create the carry of `batch_size` rows (non-trainable variables); every row starts halted."""
        if self.carry_batch_size is not None:
            if self.carry_batch_size != batch_size:
                raise ValueError(
                    f"This solver's training carry has {self.carry_batch_size} rows; it cannot train on batches of "
                    f"{batch_size}. Use the same batch size (the official runs keep it fixed)."
                )
            return
        b = self.backbone
        S = b.puzzle_emb_positions + b.sequence_length
        specs = {
            "z_H": ((batch_size, S, b.hidden_dim), "float32"),
            "z_L": ((batch_size, S, b.hidden_dim), "float32"),
            "steps": ((batch_size,), "int32"),
            "halted": ((batch_size,), "bool"),
            "inputs": ((batch_size, b.sequence_length), "int32"),
            "labels": ((batch_size, b.sequence_length), "int32"),
            "puzzle_identifiers": ((batch_size,), "int32"),
            "sample_weight": ((batch_size,), "float32"),
        }
        locked = self._tracker.locked
        self._tracker.unlock()  # the carry may be created after predict/evaluate locked the model's state
        self.carry = {}
        for name, (shape, dtype) in specs.items():
            init = "ones" if name == "halted" else "zeros"
            self.carry[name] = self.add_weight(
                shape=shape, initializer=init, dtype=dtype, trainable=False, name=f"carry_{name}"
            )
        if locked:
            self._tracker.lock()
        self.carry_batch_size = batch_size
        # compiled functions captured the state without the carry
        self.train_function = self.test_function = self.predict_function = None

    def reset_carry(self):
        """Mark every row of the training carry as halted (the next step starts new puzzles everywhere)."""
        if self.carry_batch_size is not None:
            self.carry["halted"].assign(ops.ones((self.carry_batch_size,), "bool"))

    def begin_step(self, x, y, sample_weight):
        """Reset halted rows to H_init / L_init and give them the new batch's row; running rows keep theirs."""
        c = self.carry
        halted = ops.convert_to_tensor(c["halted"])
        batch = self.carry_batch_size
        if sample_weight is None:
            sample_weight = ops.ones((batch,), "float32")
        init_H, init_L = self.backbone.initial_states(batch)

        def pick(new, old):
            mask = ops.reshape(halted, (-1,) + (1,) * (len(old.shape) - 1))
            return ops.where(mask, ops.cast(new, old.dtype), old)

        return {
            "z_H": pick(init_H, ops.cast(c["z_H"], init_H.dtype)),
            "z_L": pick(init_L, ops.cast(c["z_L"], init_L.dtype)),
            "steps": ops.where(halted, 0, ops.convert_to_tensor(c["steps"])),
            "inputs": pick(x["inputs"], ops.convert_to_tensor(c["inputs"])),
            "labels": pick(y, ops.convert_to_tensor(c["labels"])),
            "puzzle_identifiers": pick(x["puzzle_identifiers"], ops.convert_to_tensor(c["puzzle_identifiers"])),
            "sample_weight": pick(sample_weight, ops.convert_to_tensor(c["sample_weight"])),
        }

    def step_forward(self, step, puzzle_vectors):
        """One supervision step on the carried puzzles (differentiable in the weights and `puzzle_vectors`)."""
        out = self.backbone.supervision_step(step["z_H"], step["z_L"], step["inputs"], puzzle_vectors)
        if not self.no_ACT_continue:
            # HRM's continue target from a second, gradient-free pass (docs/how_trm_works.md#hrms-continue-target).
            nxt = self.backbone.supervision_step(
                out["z_H"], out["z_L"], step["inputs"], ops.stop_gradient(puzzle_vectors)
            )
            is_last = (step["steps"] + 1) >= self.halt_max_steps
            target = ops.where(
                is_last, nxt["q_halt_logits"], ops.maximum(nxt["q_halt_logits"], nxt["q_continue_logits"])
            )
            out["target_q_continue"] = ops.stop_gradient(ops.sigmoid(target))
        return out

    def end_step(self, step, outputs, parts, loss):
        """Halting decisions, the new carry, and the metrics of rows that halted at this step."""
        steps = step["steps"] + 1
        halted = steps >= self.halt_max_steps
        if self.halt_max_steps > 1:
            q_halt = outputs["q_halt_logits"]
            wants = q_halt > 0 if self.no_ACT_continue else q_halt > outputs["q_continue_logits"]
            halted = ops.logical_or(halted, wants)
            batch = self.carry_batch_size
            explore = keras.random.uniform((batch,), seed=self.seed_generator) < self.halt_exploration_prob
            drawn = keras.random.randint((batch,), 2, self.halt_max_steps + 1, seed=self.seed_generator, dtype="int32")
            min_steps = ops.where(explore, drawn, 0)
            halted = ops.logical_and(halted, steps >= min_steps)
        c = self.carry
        c["z_H"].assign(ops.cast(outputs["z_H"], "float32"))
        c["z_L"].assign(ops.cast(outputs["z_L"], "float32"))
        c["steps"].assign(steps)
        c["halted"].assign(halted)
        for name in ("inputs", "labels", "puzzle_identifiers", "sample_weight"):
            c[name].assign(step[name])
        self._loss_tracker.update_state(loss)
        counted = ops.logical_and(halted, step["sample_weight"] > 0)
        self._update_metrics(parts, outputs, counted, steps, step["sample_weight"])
        return self.get_metrics_result()

    def new_puzzle_table(self, table, puzzle_identifiers, puzzle_vector_grads):
        """Sign-SGD on the batch's rows of the puzzle-embedding table; returns the new table value.

        Call it before `optimizer.apply` of the same step: the rate is the schedule's at the main optimizer's
        iteration count, which `apply` increments (the official trainer uses one step number for both).
        """
        opt = self.embedding_optimizer
        ids = ops.cast(puzzle_identifiers, "int32")
        rows = opt.new_rows(table, ids, puzzle_vector_grads, opt.learning_rate_at(self.optimizer.iterations))
        return ops.scatter_update(table, ops.expand_dims(ids, -1), rows)

    def fit(self, x=None, y=None, batch_size=None, epochs=1, sample_weight=None, **kwargs):
        """`keras.Model.fit` through the preprocessor, with the carry built for the batch size first.

        `x` / `y`: raw puzzles and their answers (read by the `preprocessor`), token batches and labels, a
        `tf.data.Dataset` of either (preprocessed in the pipeline) or a `keras.utils.PyDataset` of token batches
        (e.g. `keras_trm.data.PuzzleBatches`). Every batch trains at one size (the carry's): arrays and `tf.data`
        batches are padded with weight-0 rows.
        """
        if self.embedding_optimizer is None:
            raise ValueError("You must call `compile()` before `fit` (TRMPuzzleSolver builds its optimisers there).")
        x, y, sample_weight = self._preprocess_inputs(x, y, sample_weight)
        x, y, sample_weight, carry_size, batch_size = _fixed_size_batches(x, y, sample_weight, batch_size)
        self.build_carry(carry_size)
        if isinstance(x, keras.utils.PyDataset) or _is_tf_dataset(x):
            # Puzzle samplers shuffle themselves (seeded, resumable); Keras's own shuffling would draw from the
            # global numpy state, which no checkpoint captures (and a tf.data pipeline shuffles in itself).
            kwargs.setdefault("shuffle", False)
        return keras.Model.fit(self, x, y, batch_size=batch_size, epochs=epochs, sample_weight=sample_weight, **kwargs)

    def evaluate(self, x=None, y=None, batch_size=None, sample_weight=None, **kwargs):
        """`keras.Model.evaluate` through the preprocessor (inputs as for `fit`)."""
        x, y, sample_weight = self._preprocess_inputs(x, y, sample_weight)
        return keras.Model.evaluate(self, x, y, batch_size=batch_size, sample_weight=sample_weight, **kwargs)

    def predict(self, x, batch_size=None, **kwargs):
        """Solve puzzles: `keras.Model.predict` through the preprocessor, and the answers decoded.

        Args:
            x: raw puzzles the `preprocessor` reads (Sudoku strings or digit arrays, maze strings, ARC grids; one
                puzzle or a list), a token batch `{"inputs": (N, L), "puzzle_identifiers": (N,)}`, a
                `tf.data.Dataset` of either (read whole first, so that each answer meets its puzzle) or a
                `keras.utils.PyDataset` of token batches (passed to Keras as it is, not decoded).
            batch_size: rows per model call (Keras's default 32).
            **kwargs: `keras.Model.predict` arguments (`verbose`, `steps`, ...).

        Returns:
            dict of numpy arrays: the model's outputs "logits" (N, L, V), "q_halt_logits" (N,),
            "q_continue_logits" (N,) and "steps" (N,) supervision steps used; and when the solver knows its
            puzzles (its `preprocessor`, else the preprocessor of its `puzzle_spec`) the decoded answers
            (`PuzzlePreprocessor.decode`): "answers" (N of them: strings when the puzzles were strings, else arrays:
            Sudoku digits (N, n, n), maze tokens (N, n, n); ARC grids as lists), "valid" bool (N,) (the answer obeys
            the rules and keeps the givens) and "confidence" float32 (N,) = sigmoid(halt logit), the model's own
            estimate that its answer is right.
        """
        strings = False
        if _is_tf_dataset(x):
            x, strings = _read_dataset(x, self._preprocess_in_memory)
        elif not isinstance(x, keras.utils.PyDataset):
            strings = is_text(x)
            x, _, _ = self._preprocess_in_memory(x)
            if isinstance(x, dict) and np.ndim(x.get("inputs")) == 1:  # one puzzle: a batch of one
                x = {k: np.asarray(v)[None] for k, v in x.items()}
            self._check_token_batch(x)  # before Keras: a call that fails while tracing can purge the weights (JAX)
        out = keras.Model.predict(self, x, batch_size=batch_size, **kwargs)
        decoder = self.preprocessor if isinstance(self.preprocessor, PuzzlePreprocessor) else None
        decoder = decoder or PuzzlePreprocessor.from_spec(self.puzzle_spec)
        if decoder is not None and isinstance(x, dict):
            out.update(decoder.decode(out, x["inputs"], strings=strings))
        return out

    def calibrate_halting(self, x, y, max_accuracy_drop=0.005, batch_size=64, patiences=(0, 1, 2, 3), margin=1.0):
        """Choose and keep the cheapest halting rule that costs at most `max_accuracy_drop` exact accuracy.

        Runs the puzzles `x` (raw puzzles the preprocessor reads, or a token batch) for `halt_max_steps` steps,
        records every step's answer and confidence, and picks the rule with the fewest mean steps whose exact
        accuracy against `y` is within `max_accuracy_drop` of the fixed-step accuracy
        (`keras_trm.evaluation.halting.calibrate_halting`). The rule becomes `halt_at_inference` (so `predict`,
        `evaluate`, the solve API and saved presets use it); with no rule saving a step the solver keeps fixed steps.
        Use held-out puzzles that are not the test set.

        Args:
            x: puzzles (as for `predict`); y: their answers (as for `fit`).
            max_accuracy_drop: float. Largest accepted loss of exact accuracy, a fraction (default 0.005).
            batch_size: int. Rows per backbone call (default 64).
            patiences: the `HaltingRule.patience` values tried (default 0 to 3).
            margin: float. Standard errors of the accuracy loss on these puzzles counted against the tolerance, a
                guard against a rule that only fits them (default 1.0; 0: their accuracy alone decides).

        Returns:
            dict: "rule" (the `HaltingRule` or None), "accuracy" and "mean_steps" under it on these puzzles,
            "fixed_accuracy", "fixed_steps".
        """
        x, y, _ = self._preprocess_in_memory(x, y)
        self._check_token_batch(x)
        labels = np.asarray(y, np.int64)
        out = run_stepwise(self, x["inputs"], x["puzzle_identifiers"], batch_size=batch_size, trace=True)
        report = calibrate_halting(
            out["trace_confidence"], out["trace_tokens"], labels, max_accuracy_drop=max_accuracy_drop,
            patiences=patiences, margin=margin,
        )  # fmt: skip
        self.halt_at_inference = report["rule"]
        return report

    def _preprocess_in_memory(self, x, y=None, sample_weight=None):
        """Raw puzzles (and answers) in memory -> (token batch, labels, sample_weight); token batches unchanged."""
        pre = self.preprocessor
        if pre is None:
            if is_text(x):
                raise ValueError(
                    "This solver has no preprocessor to read puzzle strings: set `solver.preprocessor` (e.g. "
                    "`SudokuPreprocessor(n=9)`) or pass token batches {'inputs': ..., 'puzzle_identifiers': ...}."
                )
            return x, y, sample_weight
        # A puzzle preprocessor's own Python path raises its parser's errors as they are (Keras would wrap them).
        out = pre.preprocess(x, y, sample_weight) if isinstance(pre, PuzzlePreprocessor) else None
        out = self.preprocess_samples(x, y, sample_weight) if out is None else out
        return keras.utils.unpack_x_y_sample_weight(out)

    def _preprocess_inputs(self, x, y, sample_weight):
        """`fit` / `evaluate` inputs through the preprocessor: in memory now, `tf.data` in its pipeline."""
        if isinstance(x, keras.utils.PyDataset):
            return x, y, sample_weight
        if _is_tf_dataset(x) and self.preprocessor is None:
            return x, y, sample_weight
        if _is_tf_dataset(x):
            return x.map(lambda *element: self.preprocess_samples(*element)), y, sample_weight
        x, y, sample_weight = self._preprocess_in_memory(x, y, sample_weight)
        self._check_token_batch(x)
        return x, y, sample_weight

    def _check_token_batch(self, x):
        """Raise one clear ValueError unless `x` is the token batch this model takes (checked before Keras runs)."""
        if _is_tf_dataset(x) or isinstance(x, keras.utils.PyDataset):
            return
        length = self.backbone.sequence_length
        expected = (
            f"expected puzzles the preprocessor reads or a dict {{'inputs': int (N, {length}), "
            "'puzzle_identifiers': int (N,)}"
        )
        if not isinstance(x, dict) or not {"inputs", "puzzle_identifiers"} <= set(x):
            got = sorted(x) if isinstance(x, dict) else f"{type(x).__name__} of shape {np.shape(x)}"
            raise ValueError(f"{expected}; got {got}")
        inputs_shape, ids_shape = np.shape(x["inputs"]), np.shape(x["puzzle_identifiers"])
        if len(inputs_shape) != 2 or inputs_shape[1] != length:
            raise ValueError(f"{expected}; got 'inputs' of shape {inputs_shape} (this model takes {length} tokens)")
        if ids_shape != inputs_shape[:1]:
            raise ValueError(f"{expected}; got 'puzzle_identifiers' of shape {ids_shape} for {inputs_shape[0]} rows")

    # ------------------------------------------------------------------ losses
    def step_loss(self, outputs, labels, sample_weight):
        """Summed loss of one supervision step and its parts.

        lm = sum over rows of (sum of CE over valid labels / their count); q_halt = sum of BCE(halt logit, row
        exactly right); rows with sample weight 0 count nowhere. Returns (loss_sum, parts dict of per-row values).
        """
        logits = ops.cast(outputs["logits"], "float32")
        weight = ops.cast(sample_weight, "float32")
        lm_rows = lm_loss_per_row(logits, labels, token_loss=self.token_loss, ignore_label_id=IGNORE_LABEL_ID)
        is_correct, seq_correct, counts = row_correctness(logits, labels, IGNORE_LABEL_ID)
        q_halt_rows = halt_bce(outputs["q_halt_logits"], ops.cast(seq_correct, "float32"))
        loss = ops.sum(weight * (lm_rows + 0.5 * q_halt_rows))
        parts = {
            "lm_rows": lm_rows,
            "q_halt_rows": q_halt_rows,
            "is_correct": is_correct,
            "seq_correct": seq_correct,
            "counts": counts,
        }
        if "target_q_continue" in outputs:
            q_cont_rows = halt_bce(outputs["q_continue_logits"], outputs["target_q_continue"])
            loss = loss + ops.sum(weight * 0.5 * q_cont_rows)
            parts["q_continue_rows"] = q_cont_rows
        return loss, parts

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=False):
        batch = ops.shape(y)[0]
        if sample_weight is None:
            sample_weight = ops.ones((batch,), "float32")
        loss, _ = self.step_loss(y_pred, y, sample_weight)
        return loss / ops.cast(batch, "float32")

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if sample_weight is None:
            sample_weight = ops.ones((ops.shape(y)[0],), "float32")
        _, parts = self.step_loss(y_pred, y, sample_weight)
        counted = ops.cast(sample_weight, "float32") > 0
        self._update_metrics(parts, y_pred, counted, y_pred["steps"], sample_weight)
        return self.get_metrics_result()

    def _update_metrics(self, parts, outputs, counted, steps, sample_weight):
        """Metrics over rows that are `counted` (halted now, real, with at least one valid label)."""
        counted = ops.logical_and(counted, parts["counts"] > 0)
        w = ops.cast(counted, "float32")
        weight = ops.cast(sample_weight, "float32")
        batch = ops.cast(ops.shape(weight)[0], "float32")
        token_acc = ops.sum(ops.cast(parts["is_correct"], "float32"), axis=-1) / ops.maximum(
            ops.cast(parts["counts"], "float32"), 1.0
        )
        halt_right = ops.equal(ops.greater_equal(outputs["q_halt_logits"], 0.0), parts["seq_correct"])
        t = self._metric_trackers
        t["accuracy"].update_state(token_acc, sample_weight=w)
        t["exact_accuracy"].update_state(ops.cast(parts["seq_correct"], "float32"), sample_weight=w)
        t["q_halt_accuracy"].update_state(ops.cast(halt_right, "float32"), sample_weight=w)
        t["steps"].update_state(ops.cast(steps, "float32"), sample_weight=w)
        # Losses as the official logs them: summed over the batch's rows, divided by the batch size.
        t["lm_loss"].update_state(ops.sum(weight * parts["lm_rows"]) / batch)
        t["q_halt_loss"].update_state(ops.sum(weight * parts["q_halt_rows"]) / batch)
        if "q_continue_rows" in parts and "q_continue_loss" in t:
            t["q_continue_loss"].update_state(ops.sum(weight * parts["q_continue_rows"]) / batch)

    # ------------------------------------------------------------- saving
    def _saved_own_variables(self):
        """The solver's own variables minus the training carry, which is training state, not model (a saved model
        or preset stays free of batch-sized buffers; resumable checkpoints save the carry themselves)."""
        carry = {id(v) for v in getattr(self, "carry", {}).values()}
        own = self._trainable_variables + self._non_trainable_variables
        return [v for v in own if id(v) not in carry]

    def save_own_variables(self, store):
        for i, v in enumerate(self._saved_own_variables()):
            store[f"{i}"] = v

    def load_own_variables(self, store):
        own = self._saved_own_variables()
        if len(store.keys()) != len(own):
            raise ValueError(
                f"{self.name}: the saved file has {len(store.keys())} solver variables, this solver expects "
                f"{len(own)} ({[v.name for v in own]})."
            )
        for i, v in enumerate(own):
            v.assign(store[f"{i}"])

    # ------------------------------------------------------------- config
    def get_config(self):
        config = super().get_config()
        config.update(
            halt_max_steps=self.halt_max_steps,
            halt_exploration_prob=self.halt_exploration_prob,
            no_ACT_continue=self.no_ACT_continue,
            token_loss=self.token_loss,
            halt_at_inference=rule_config(self.halt_at_inference),
            seed=self.seed,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "loss" in config:  # saved before `token_loss` had its name
            config.setdefault("token_loss", config.pop("loss"))
        return super().from_config(config)


def _is_tf_dataset(x):
    return hasattr(x, "element_spec") and hasattr(x, "map")


def _read_dataset(ds, preprocess):
    """A `tf.data.Dataset` of puzzles or token batches, read whole -> (token batch of numpy arrays, strings: whether
    its puzzles were strings)."""
    batches, strings = [], False
    for element in ds:
        x, _, _ = keras.utils.unpack_x_y_sample_weight(element)
        x = keras.tree.map_structure(convert_to_numpy, x)
        strings = strings or is_text(x)
        x, _, _ = preprocess(x)
        if np.ndim(x["inputs"]) == 1:  # an unbatched dataset: one puzzle per element
            x = {k: np.asarray(v)[None] for k, v in x.items()}
        batches.append(x)
    if not batches:
        raise ValueError("predict got an empty dataset")
    return {k: np.concatenate([np.asarray(b[k]) for b in batches]) for k in batches[0]}, strings


def _pad_batch(size, *element):
    """A `tf.data` batch padded to `size` rows with weight-0 rows (training keeps one batch size)."""
    import tensorflow as tf

    x, y, w = keras.utils.unpack_x_y_sample_weight(element if len(element) > 1 else element[0])
    n = tf.shape(keras.tree.flatten(x)[0])[0]
    w = tf.ones((n,), tf.float32) if w is None else tf.cast(w, tf.float32)

    def pad(t):
        t = tf.convert_to_tensor(t)
        return tf.pad(t, [[0, size - n]] + [[0, 0]] * (len(t.shape) - 1))

    return keras.tree.map_structure(pad, x), None if y is None else pad(y), pad(w)


def _fixed_size_batches(x, y, sample_weight, batch_size):
    """Training needs every batch at the carry's size: pad array inputs and `tf.data` batches with weight-0 rows;
    read datasets' size."""
    if isinstance(x, dict) and "inputs" in x and y is not None:
        n = len(x["inputs"])
        batch_size = batch_size or min(32, n)
        pad = (-n) % batch_size
        w = np.ones((n,), "float32") if sample_weight is None else np.asarray(sample_weight, "float32")
        if pad:
            x = {
                k: np.concatenate([np.asarray(v), np.zeros((pad,) + np.shape(v)[1:], np.asarray(v).dtype)])
                for k, v in x.items()
            }
            y = np.concatenate([np.asarray(y), np.zeros((pad,) + np.shape(y)[1:], np.asarray(y).dtype)])
            w = np.concatenate([w, np.zeros((pad,), "float32")])
        return x, y, w, batch_size, batch_size
    if _is_tf_dataset(x) and batch_size is None and getattr(x, "batch_size", None) is None:
        first, _, _ = keras.utils.unpack_x_y_sample_weight(next(iter(x)))
        size = int(keras.tree.flatten(first)[0].shape[0])  # the first batch's size: every batch is padded to it
        return x.map(functools.partial(_pad_batch, size)), None, None, size, None
    if batch_size is None:
        batch_size = getattr(x, "batch_size", None)
    if batch_size is None and isinstance(x, keras.utils.PyDataset):
        batch_size = len(keras.utils.unpack_x_y_sample_weight(x[0])[1])
    if batch_size is None:
        raise ValueError(
            "TRMPuzzleSolver.fit needs to know the (fixed) batch size: pass batch_size=..., or a dataset with a "
            "`batch_size` attribute such as keras_trm.data.PuzzleBatches."
        )
    if isinstance(x, keras.utils.PyDataset) or hasattr(x, "element_spec"):
        return x, None, None, batch_size, None  # the dataset carries y and sample_weight
    return x, y, sample_weight, batch_size, batch_size
