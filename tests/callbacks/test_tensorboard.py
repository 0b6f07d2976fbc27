import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from keras_trm.callbacks import EMAEvaluation, TRMTensorBoard, arc_pass_at_k, learning_rates
from tests.callbacks._helpers import eval_batches, make_solver, sudoku_root, train_batches


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return sudoku_root(str(tmp_path_factory.mktemp("sudoku")))


def _read(folder):
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


class _FakeARCEvaluator:
    def reset(self):
        self.rows = 0

    def update_from_outputs(self, outputs, x):
        assert outputs["logits"].shape[0] == x["inputs"].shape[0]
        self.rows += int((np.asarray(x["puzzle_identifiers"]) >= 0).sum())

    def result(self):
        return {"pass@1": 0.25, "pass@2": 0.5, "rows": float(self.rows)}


def test_event_files_have_scalars_and_images(root, tmp_path):
    solver = make_solver()
    val = eval_batches(root)
    tb = TRMTensorBoard(
        tmp_path,
        update_freq=2,
        examples=val[0],
        benchmark="sudoku",
        grid_shape=(4, 4),
        eval_fn=arc_pass_at_k(_FakeARCEvaluator(), val),
        max_examples=2,
    )
    solver.fit(train_batches(root), epochs=2, verbose=0, validation_data=val, callbacks=[EMAEvaluation(), tb])

    train = _read(tmp_path / "train")
    tags = set(train.Tags()["scalars"])
    for name in ("loss", "lm_loss", "q_halt_loss", "accuracy", "exact_accuracy", "q_halt_accuracy", "steps"):
        assert f"epoch_{name}" in tags and f"batch_{name}" in tags
    assert {"learning_rate", "puzzle_emb_learning_rate"} <= tags
    lr = train.Scalars("learning_rate")
    assert [e.step for e in lr][-1] == 6
    # warm-up of 2 steps (schedule called with the step count, offset 1): full rate from step 1 on
    np.testing.assert_allclose(lr[-1].value, 1e-2, rtol=1e-6)
    assert [e.step for e in train.Scalars("batch_loss")] == [2, 4, 6]

    evals = _read(tmp_path / "eval")
    tags = set(evals.Tags()["scalars"])
    assert {"loss", "exact_accuracy", "accuracy", "pass@1", "pass@2"} <= tags
    assert evals.Scalars("rows")[-1].value == 8  # every test example went through the evaluation function
    assert [e.step for e in evals.Scalars("exact_accuracy")] == [3, 6]
    assert {"predictions", "evolution"} <= set(evals.Tags()["images"])
    image = evals.Images("predictions")[-1]
    assert image.width > 100 and image.height > 50 and image.encoded_image_string[:4] == b"\x89PNG"


def test_learning_rates_follow_the_schedule():
    solver = make_solver()
    solver.optimizer.build(solver.trainable_variables)
    rates = learning_rates(solver)  # step 0: warm-up 1/2 of the base rate
    np.testing.assert_allclose([rates["learning_rate"], rates["puzzle_emb_learning_rate"]], [5e-3, 5e-3], rtol=1e-6)
