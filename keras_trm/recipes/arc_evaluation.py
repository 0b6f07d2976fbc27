"""ARCRunEvaluation: the ARC evaluations of one training run, voting with one `ARCEvaluator`."""

import os

import keras

from keras_trm.evaluation import ARCEvaluator
from keras_trm.recipes.evaluate import predict_batches


def _optimizer_step(solver):
    opt = getattr(solver, "optimizer", None)
    return None if opt is None else int(keras.ops.convert_to_numpy(opt.iterations))


class ARCRunEvaluation:
    """The ARC evaluations of one training run, sharing one `ARCEvaluator` (as the official `pretrain.py` creates its
    evaluators once per run).

    With `cfg.voting` "aggregated" (the default, the official `aggregated_voting`) each periodic evaluation's votes
    add to the earlier ones, and pass@K is scored on all of them; with "per_evaluation" each evaluation votes alone.
    Reports carry "voting", "voted_evaluations" and "voting_label" (e.g. "votes aggregated over 3 evaluations").
    `final` (after fit) reuses the last periodic evaluation when that one scored every test example at the same
    optimizer step (the same weights: voting again would count that model twice); otherwise it is one more
    evaluation. The final one writes <out_dir>/submission.json from the votes it scored.

    `periodic` and `final` have a recipe evaluation's signature: (solver, cfg, data_dir, test_batches,
    max_examples=0, progress=False) -> report dict.
    """

    def __init__(self):
        self.evaluator = None
        self._last = None  # (optimizer step, report) of the last periodic evaluation that scored every example
        self._capped = 0  # evaluations in the tally that scored only the first eval_max_examples

    def _evaluate(self, solver, cfg, data_dir, test_batches, max_examples, progress):
        if self.evaluator is None:
            self.evaluator = ARCEvaluator.from_dataset(data_dir, "test", train_metadata=data_dir, voting=cfg.voting)
        ev = self.evaluator
        ev.begin_evaluation()
        complete = not max_examples or -(-int(max_examples) // test_batches.batch_size) >= len(test_batches)
        self._capped = (0 if cfg.voting == "per_evaluation" else self._capped) + (not complete)
        for x, _, _, out in predict_batches(solver, test_batches, max_examples, progress, "ARC"):
            ev.update(out["logits"].argmax(-1), out["q_halt_logits"], x["puzzle_identifiers"], x["inputs"])
        report = ev.report()
        if self._capped:
            report["voting_label"] += (
                f"; {self._capped} of them on the first {max_examples or cfg.eval_max_examples} test examples only"
                if cfg.voting == "aggregated"
                else f" (the first {max_examples} test examples)"
            )
        return report, complete

    def periodic(self, solver, cfg, data_dir, test_batches, max_examples=0, progress=False):
        """One evaluation during training: votes, then the report (pass@K on the votes `cfg.voting` counts)."""
        report, complete = self._evaluate(solver, cfg, data_dir, test_batches, max_examples, progress)
        self._last = (_optimizer_step(solver), report) if complete else None
        return report

    def final(self, solver, cfg, data_dir, test_batches, max_examples=0, progress=False):
        """The evaluation after fit (the last periodic one when it stands for the same weights); writes
        submission.json when it scores every test example."""
        step = _optimizer_step(solver)
        last = self._last
        if cfg.voting == "aggregated" and last is not None and step is not None and last[0] == step:
            report = dict(last[1], same_as_evaluation_at_step=step)
        else:
            report, _ = self._evaluate(solver, cfg, data_dir, test_batches, max_examples, progress)
        if not max_examples:
            self.evaluator.write_submission(os.path.join(cfg.out_dir, "submission.json"))
        return report
