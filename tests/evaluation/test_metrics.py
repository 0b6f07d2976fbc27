import keras
import numpy as np
import pytest
from keras import ops

from keras_trm.evaluation.metrics import ExactAccuracy, TokenAccuracy, ValidityRate

V = 6
# Labels with ignored positions (0); the last row is a padding row.
Y_TRUE = np.array([[2, 3, 4, 0], [2, 3, 4, 5], [5, 5, 0, 0], [0, 0, 0, 0]], dtype="int32")
Y_PRED = np.array([[2, 3, 4, 1], [2, 1, 4, 1], [1, 1, 3, 3], [1, 1, 1, 1]], dtype="int32")
WEIGHT = np.array([1.0, 1.0, 1.0, 0.0], dtype="float32")
# Per-row token accuracy: 3/3, 2/4, 0/2; exact: 1, 0, 0.
TOKEN_ACC = (1 + 0.5 + 0) / 3
EXACT_ACC = 1 / 3


def logits(tokens):
    return np.eye(V, dtype="float32")[tokens] * 4.0 - 1.0


def value(metric):
    return float(ops.convert_to_numpy(metric.result()))


@pytest.mark.parametrize("as_logits", [False, True])
@pytest.mark.parametrize("cls,expected", [(TokenAccuracy, TOKEN_ACC), (ExactAccuracy, EXACT_ACC)])
def test_hand_computed(cls, expected, as_logits):
    metric = cls()
    y_pred = logits(Y_PRED) if as_logits else Y_PRED
    metric.update_state(ops.convert_to_tensor(Y_TRUE), ops.convert_to_tensor(y_pred), sample_weight=WEIGHT)
    assert value(metric) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("cls,expected", [(TokenAccuracy, TOKEN_ACC), (ExactAccuracy, EXACT_ACC)])
def test_rows_without_labels_do_not_count_even_unweighted(cls, expected):
    metric = cls()
    metric.update_state(Y_TRUE, Y_PRED)  # no sample_weight: the all-ignored row still does not count
    assert value(metric) == pytest.approx(expected, abs=1e-6)


def test_sample_weight_drops_rows_and_accumulates_over_batches():
    metric = TokenAccuracy()
    metric.update_state(Y_TRUE, Y_PRED, sample_weight=np.array([0.0, 1.0, 1.0, 0.0], "float32"))
    assert value(metric) == pytest.approx(0.25)  # (2/4 + 0/2) / 2
    metric.update_state(Y_TRUE[:1], Y_PRED[:1], sample_weight=np.array([1.0], "float32"))
    assert value(metric) == pytest.approx(0.5)  # (0.5 + 0 + 1) / 3
    metric.reset_state()
    assert value(metric) == 0.0
    exact = ExactAccuracy()
    exact.update_state(Y_TRUE, Y_PRED, sample_weight=np.array([[1.0], [1.0], [0.0], [0.0]], "float32"))
    assert value(exact) == pytest.approx(0.5)


def test_dict_outputs_and_config_round_trip():
    metric = ExactAccuracy(name="exact", logits_key="out")
    metric.update_state(Y_TRUE, {"out": logits(Y_PRED), "q_halt_logits": np.zeros(4)}, sample_weight=WEIGHT)
    assert value(metric) == pytest.approx(EXACT_ACC)
    clone = ExactAccuracy.from_config(metric.get_config())
    assert clone.name == "exact" and clone.logits_key == "out"
    restored = keras.metrics.deserialize(keras.metrics.serialize(TokenAccuracy()))
    assert isinstance(restored, TokenAccuracy)


def test_in_model_evaluate():
    # A model that predicts its input tokens: its logits' argmax is Y_PRED.
    inputs = keras.Input((4,), dtype="int32")
    embed = keras.layers.Embedding(V, V, embeddings_initializer=keras.initializers.Constant(np.eye(V) * 4 - 1))
    model = keras.Model(inputs, embed(inputs))
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[TokenAccuracy(), ExactAccuracy()],
    )
    results = model.evaluate(Y_PRED, Y_TRUE, sample_weight=WEIGHT, batch_size=4, verbose=0, return_dict=True)
    assert results["token_accuracy"] == pytest.approx(TOKEN_ACC, abs=1e-6)
    assert results["exact_accuracy"] == pytest.approx(EXACT_ACC, abs=1e-6)


SUDOKU_4 = np.array([int(c) + 1 for c in "1234341221434321"])


def test_validity_rate():
    puzzle = SUDOKU_4.copy()
    puzzle[[0, 5, 10, 15]] = 1
    wrong = SUDOKU_4.copy()
    wrong[[0, 1]] = wrong[[1, 0]]
    inputs = np.stack([puzzle, puzzle, puzzle, np.zeros(16, int)])
    preds = np.stack([SUDOKU_4, wrong, SUDOKU_4, np.zeros(16, int)])
    rate = ValidityRate("sudoku", (4, 4))
    rate.update_state(preds, inputs)  # the all-zero input row is padding
    assert rate.count == 3 and rate.result() == pytest.approx(2 / 3)
    rate.update_state(logits(preds), inputs, sample_weight=np.array([0.0, 1.0, 0.0, 0.0]))
    assert rate.count == 4 and rate.result() == pytest.approx(0.5)
    rate.update_state(ops.convert_to_tensor(preds[:1]), ops.convert_to_tensor(inputs[:1]))
    assert rate.result() == pytest.approx(3 / 5)
    rate.reset_state()
    assert rate.result() == 0.0 and rate.count == 0
