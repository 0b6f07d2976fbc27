import copy
import math

import keras
import numpy as np
import pytest
from keras import ops

from keras_trm.training.optimizers import AdamATan2, SignSGDEmbedding, sum_duplicate_rows
from keras_trm.training.schedules import WarmupCosine

BACKEND = keras.backend.backend()


def to_np(x):
    return np.asarray(ops.convert_to_numpy(x))


# --------------------------------------------------------------------------
# AdamATan2
# --------------------------------------------------------------------------


def np_adam_atan2(param, grads, lrs, beta_1=0.9, beta_2=0.95, weight_decay=0.0):
    """Float64 reference of the adam-atan2 package's update."""
    p = np.asarray(param, np.float64).copy()
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    for t, (g, lr) in enumerate(zip(grads, lrs), start=1):
        g = np.asarray(g, np.float64)
        p *= 1.0 - lr * weight_decay
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g * g
        denom = np.sqrt(v) / math.sqrt(1 - beta_2**t)
        p -= lr / (1 - beta_1**t) * np.arctan2(m, denom)
    return p


def official_lr(step, base, warmup, total, min_ratio):
    if step < warmup:
        return base * step / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return base * (min_ratio + max(0.0, (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))))


def random_problem(seed=0, steps=6):
    rng = np.random.default_rng(seed)
    params = [rng.normal(size=(3, 4)).astype("float32"), rng.normal(size=(5,)).astype("float32")]
    grads = [
        [rng.normal(size=p.shape).astype("float32") * 10.0 ** rng.integers(-3, 2) for p in params] for _ in range(steps)
    ]
    grads[2][1][:2] = 0.0  # zero gradients (atan2(0, 0) = 0)
    return params, grads


def run_keras(opt, params, grads):
    variables = [keras.Variable(p) for p in params]
    for step_grads in grads:
        opt.apply([ops.convert_to_tensor(g) for g in step_grads], variables)
    return [to_np(v) for v in variables]


@pytest.mark.parametrize("weight_decay", [0.0, 0.1, 1.0])
def test_adam_atan2_matches_hand_computed_updates(weight_decay):
    params, grads = random_problem()
    lr = 1e-2
    opt = AdamATan2(learning_rate=lr, weight_decay=weight_decay)
    got = run_keras(opt, params, grads)
    for i, p in enumerate(params):
        want = np_adam_atan2(p, [g[i] for g in grads], [lr] * len(grads), weight_decay=weight_decay)
        np.testing.assert_allclose(got[i], want, rtol=1e-5, atol=1e-6)
    assert int(to_np(opt.iterations)) == len(grads)


def test_adam_atan2_with_schedule_and_betas():
    params, grads = random_problem(seed=1, steps=7)
    schedule = WarmupCosine(0.05, warmup_steps=3, total_steps=7, min_ratio=0.1)
    opt = AdamATan2(learning_rate=schedule, beta_1=0.8, beta_2=0.99, weight_decay=0.5)
    got = run_keras(opt, params, grads)
    # Keras iteration i uses the official step i + 1.
    lrs = [official_lr(i + 1, 0.05, 3, 7, 0.1) for i in range(len(grads))]
    for i, p in enumerate(params):
        want = np_adam_atan2(p, [g[i] for g in grads], lrs, 0.8, 0.99, 0.5)
        np.testing.assert_allclose(got[i], want, rtol=1e-5, atol=1e-6)


def test_adam_atan2_first_step_by_hand():
    # Step 1: m = 0.1 g, sqrt(v) / sqrt(1 - 0.95) = |g|, so the step is
    # lr / 0.1 * atan2(0.1 g, |g|) = lr * sign(g) * atan(0.1) / 0.1, whatever |g|.
    v = keras.Variable(np.array([2.0, -1.0, 0.5], "float32"))
    opt = AdamATan2(learning_rate=0.01, weight_decay=1.0)
    opt.apply([ops.convert_to_tensor(np.array([1e-6, -3.0, 0.0], "float32"))], [v])
    step = 0.01 * math.atan(0.1) / 0.1
    decayed = np.array([2.0, -1.0, 0.5]) * (1 - 0.01)
    np.testing.assert_allclose(to_np(v), decayed - np.array([step, -step, 0.0]), rtol=1e-6)


def test_adam_atan2_exclude_from_weight_decay():
    params, grads = random_problem(seed=2, steps=3)
    opt = AdamATan2(learning_rate=1e-2, weight_decay=1.0)
    variables = [keras.Variable(params[0], name="kernel"), keras.Variable(params[1], name="bias")]
    opt.exclude_from_weight_decay(var_names=["bias"])
    for step_grads in grads:
        opt.apply([ops.convert_to_tensor(g) for g in step_grads], variables)
    want0 = np_adam_atan2(params[0], [g[0] for g in grads], [1e-2] * 3, weight_decay=1.0)
    want1 = np_adam_atan2(params[1], [g[1] for g in grads], [1e-2] * 3, weight_decay=0.0)
    np.testing.assert_allclose(to_np(variables[0]), want0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(to_np(variables[1]), want1, rtol=1e-5, atol=1e-6)


def test_adam_atan2_ema():
    params, grads = random_problem(seed=3, steps=4)
    opt = AdamATan2(learning_rate=1e-2, weight_decay=0.1, use_ema=True, ema_momentum=0.9)
    variables = [keras.Variable(p) for p in params]
    values = []
    for step_grads in grads:
        opt.apply([ops.convert_to_tensor(g) for g in step_grads], variables)
        values.append([to_np(v) for v in variables])
    # The official EMA: the average starts at the weights before the first update, then avg = 0.9 avg + 0.1 w at
    # every step (Keras's own optimizers copy the weights at the first step instead).
    for i in range(len(params)):
        avg = np.asarray(params[i], np.float64)
        for step_values in values:
            avg = 0.9 * avg + 0.1 * step_values[i]
        np.testing.assert_allclose(to_np(opt._model_variables_moving_average[i]), avg, rtol=1e-5, atol=1e-6)
    opt.finalize_variable_values(variables)
    np.testing.assert_allclose(to_np(variables[0]), to_np(opt._model_variables_moving_average[0]))


def test_adam_atan2_get_config_round_trip():
    schedule = WarmupCosine(1e-4, warmup_steps=20, total_steps=100, min_ratio=0.5)
    opt = AdamATan2(
        learning_rate=schedule, beta_1=0.85, beta_2=0.97, weight_decay=0.3, use_ema=True, ema_momentum=0.999
    )
    config = opt.get_config()
    assert config["beta_1"] == 0.85 and config["beta_2"] == 0.97
    assert config["weight_decay"] == 0.3 and config["use_ema"] and config["ema_momentum"] == 0.999
    clone = AdamATan2.from_config(copy.deepcopy(config))  # Keras edits it in place
    assert isinstance(clone._learning_rate, WarmupCosine)
    assert clone.get_config() == config
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert isinstance(restored, AdamATan2)
    assert restored.get_config() == config


def test_adam_atan2_defaults():
    opt = AdamATan2()
    assert (opt.beta_1, opt.beta_2) == (0.9, 0.95)
    assert opt.weight_decay == 0.01


def test_adam_atan2_in_model_fit():
    # Compiled training (jit on JAX / tf.function on TF) runs and moves weights.
    rng = np.random.default_rng(4)
    x = rng.integers(0, 10, size=(32, 3)).astype("int32")
    y = rng.normal(size=(32, 1)).astype("float32")
    model = keras.Sequential(
        [keras.Input((3,), dtype="int32"), keras.layers.Embedding(10, 4), keras.layers.Flatten(), keras.layers.Dense(1)]
    )
    model.compile(optimizer=AdamATan2(learning_rate=1e-2, use_ema=True), loss="mse")
    before = [to_np(w) for w in model.trainable_weights]
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    after = [to_np(w) for w in model.trainable_weights]
    assert all(not np.allclose(a, b) for a, b in zip(before, after))
    assert int(to_np(model.optimizer.iterations)) == 8


@pytest.mark.skipif(BACKEND != "tensorflow", reason="IndexedSlices are TensorFlow's")
def test_adam_atan2_sparse_gradient_equals_dense():
    import tensorflow as tf

    rng = np.random.default_rng(5)
    table = rng.normal(size=(6, 3)).astype("float32")
    updates = []
    for _ in range(3):
        ids = rng.integers(0, 6, size=(4,)).astype("int32")
        ids[1] = ids[0]  # duplicate rows are summed
        updates.append((ids, rng.normal(size=(4, 3)).astype("float32")))

    sparse_var = keras.Variable(table)
    dense_var = keras.Variable(table)
    sparse_opt = AdamATan2(learning_rate=1e-2, weight_decay=0.5)
    dense_opt = AdamATan2(learning_rate=1e-2, weight_decay=0.5)

    @tf.function
    def sparse_step(ids, values):
        grad = tf.IndexedSlices(values, ids, dense_shape=tf.constant([6, 3]))
        sparse_opt.apply([grad], [sparse_var])

    for ids, values in updates:
        sparse_step(tf.constant(ids), tf.constant(values))
        dense = np.zeros((6, 3), "float32")
        np.add.at(dense, ids, values)
        dense_opt.apply([tf.constant(dense)], [dense_var])
    np.testing.assert_allclose(to_np(sparse_var), to_np(dense_var), rtol=1e-6, atol=1e-7)
    want = np_adam_atan2(
        table,
        [np.add.at(z := np.zeros((6, 3)), ids, v) or z for ids, v in updates],
        [1e-2] * 3,
        weight_decay=0.5,
    )
    np.testing.assert_allclose(to_np(sparse_var), want, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="IndexedSlices are TensorFlow's")
def test_adam_atan2_embedding_layer_gradient_on_tensorflow():
    import tensorflow as tf

    layer = keras.layers.Embedding(8, 2)
    layer.build((None,))
    start = to_np(layer.embeddings)
    ids = tf.constant([1, 3, 1], dtype="int32")
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(ids) * tf.constant([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]]))
    grad = tape.gradient(loss, layer.embeddings.value)
    assert isinstance(grad, tf.IndexedSlices)
    opt = AdamATan2(learning_rate=0.1, weight_decay=0.0)
    opt.apply([grad], [layer.embeddings])
    dense = np.zeros((8, 2))
    dense[1] = [1.5, 2.5]
    dense[3] = [3.0, -1.0]
    want = np_adam_atan2(start, [dense], [0.1])
    np.testing.assert_allclose(to_np(layer.embeddings), want, rtol=1e-6, atol=1e-7)


@pytest.mark.skipif(BACKEND != "jax", reason="stateless_apply under jax.jit")
def test_adam_atan2_stateless_apply_under_jit():
    import jax

    params, grads = random_problem(seed=6, steps=4)
    opt = AdamATan2(learning_rate=WarmupCosine(1e-2, 2, 4, 0.0), weight_decay=0.2)
    variables = [keras.Variable(p) for p in params]
    opt.build(variables)
    step = jax.jit(opt.stateless_apply)
    tv = [v.value for v in variables]
    ov = [v.value for v in opt.variables]
    for step_grads in grads:
        tv, ov = step(ov, [jax.numpy.asarray(g) for g in step_grads], tv)
    lrs = [official_lr(i + 1, 1e-2, 2, 4, 0.0) for i in range(4)]
    for i, p in enumerate(params):
        want = np_adam_atan2(p, [g[i] for g in grads], lrs, weight_decay=0.2)
        np.testing.assert_allclose(np.asarray(tv[i]), want, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------
# SignSGDEmbedding
# --------------------------------------------------------------------------


def np_sign_sgd(table, ids, grads, lr, wd):
    table = np.asarray(table, np.float64).copy()
    summed = {}
    for i, g in zip(ids, grads):
        summed[int(i)] = summed.get(int(i), 0.0) + np.asarray(g, np.float64)
    for i, g in summed.items():
        table[i] = table[i] * (1 - lr * wd) - lr * np.sign(g)
    return table


def embedding_problem(seed=0):
    rng = np.random.default_rng(seed)
    table = rng.normal(size=(10, 3)).astype("float32")
    ids = np.array([4, 1, 4, 7, 1, 4], "int32")
    grads = rng.normal(size=(6, 3)).astype("float32")
    grads[0, 0], grads[2, 0], grads[5, 0] = 1.0, -3.0, 1.0  # id 4, col 0: sums to -1
    grads[1, 1], grads[4, 1] = 2.0, -2.0  # id 1, col 1: sums to 0 -> sign 0
    return table, ids, grads


def test_sum_duplicate_rows():
    ids = np.array([5, 2, 5, 5, 0], "int32")
    values = np.arange(10, dtype="float32").reshape(5, 2)
    want = np.array([[10, 13], [2, 3], [10, 13], [10, 13], [8, 9]], "float32")
    np.testing.assert_array_equal(to_np(sum_duplicate_rows(ids, values)), want)


def test_sign_sgd_hand_values_with_duplicates():
    table = keras.Variable(np.ones((5, 2), "float32"))
    opt = SignSGDEmbedding(learning_rate=0.5, weight_decay=0.2)
    ids = np.array([3, 1, 3], "int32")
    grads = np.array([[1.0, -2.0], [-0.1, 0.0], [-4.0, 1.0]], "float32")
    opt.apply(table, ops.convert_to_tensor(ids), ops.convert_to_tensor(grads))
    # decay: 1 * (1 - 0.5 * 0.2) = 0.9; id 3 summed grad (-3, -1); id 1 (-0.1, 0)
    want = np.array([[1.0, 1.0], [1.4, 0.9], [1.0, 1.0], [1.4, 1.4], [1.0, 1.0]])
    np.testing.assert_allclose(to_np(table), want, rtol=1e-6)
    assert int(to_np(opt.iterations)) == 1


def test_sign_sgd_several_steps_with_schedule():
    table0, ids, grads = embedding_problem()
    schedule = WarmupCosine(0.1, warmup_steps=2, total_steps=5, min_ratio=0.0)
    opt = SignSGDEmbedding(learning_rate=schedule, weight_decay=1.0)
    table = keras.Variable(table0)
    want = table0
    rng = np.random.default_rng(9)
    for step in range(4):
        step_ids = ids if step % 2 == 0 else rng.integers(0, 10, size=6).astype("int32")
        step_grads = grads * (step + 1) if step % 2 == 0 else rng.normal(size=(6, 3)).astype("float32")
        opt.apply(table, ops.convert_to_tensor(step_ids), ops.convert_to_tensor(step_grads))
        want = np_sign_sgd(want, step_ids, step_grads, official_lr(step + 1, 0.1, 2, 5, 0.0), 1.0)
        np.testing.assert_allclose(to_np(table), want, rtol=1e-6, atol=1e-6)
    untouched = sorted(set(range(10)) - set(ids.tolist()))
    assert untouched  # some rows never appear in the first batch


def test_sign_sgd_untouched_rows_are_bit_identical():
    table0, ids, grads = embedding_problem(1)
    table = keras.Variable(table0)
    SignSGDEmbedding(learning_rate=0.3, weight_decay=0.7).apply(
        table, ops.convert_to_tensor(ids), ops.convert_to_tensor(grads)
    )
    out = to_np(table)
    for row in range(10):
        if row not in ids:
            np.testing.assert_array_equal(out[row], table0[row])
        else:
            assert not np.array_equal(out[row], table0[row])


def test_sign_sgd_stateless_update():
    table0, ids, grads = embedding_problem(2)
    opt = SignSGDEmbedding(learning_rate=WarmupCosine(0.2, 4, 8), weight_decay=0.1)
    new_table, it = opt.stateless_update(
        ops.convert_to_tensor(table0),
        ops.convert_to_tensor(ids),
        ops.convert_to_tensor(grads),
        ops.convert_to_tensor(1, "int32"),
    )
    want = np_sign_sgd(table0, ids, grads, official_lr(2, 0.2, 4, 8, 1.0), 0.1)
    np.testing.assert_allclose(to_np(new_table), want, rtol=1e-6, atol=1e-7)
    assert int(to_np(it)) == 2
    assert int(to_np(opt.iterations)) == 0  # stateless: the counter is not touched


@pytest.mark.skipif(BACKEND != "jax", reason="jax.jit")
def test_sign_sgd_stateless_update_under_jax_jit():
    import jax

    table0, ids, grads = embedding_problem(3)
    opt = SignSGDEmbedding(learning_rate=WarmupCosine(0.2, 2, 6, 0.0), weight_decay=0.5)
    step = jax.jit(opt.stateless_update, donate_argnums=(0,))
    table = jax.numpy.asarray(table0)
    it = jax.numpy.asarray(0, "int32")
    want = table0
    for s in range(3):
        g = grads * (-1.0) ** s
        table, it = step(table, jax.numpy.asarray(ids), jax.numpy.asarray(g), it)
        want = np_sign_sgd(want, ids, g, official_lr(s + 1, 0.2, 2, 6, 0.0), 0.5)
        np.testing.assert_allclose(np.asarray(table), want, rtol=1e-6, atol=1e-6)
    assert int(it) == 3


@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.function")
def test_sign_sgd_apply_in_tf_function():
    import tensorflow as tf

    table0, ids, grads = embedding_problem(4)
    table = keras.Variable(table0)
    opt = SignSGDEmbedding(learning_rate=WarmupCosine(0.2, 2, 6, 0.0), weight_decay=0.5)

    @tf.function(jit_compile=False)
    def step(i, g):
        opt.apply(table, i, g)

    want = table0
    for s in range(3):
        g = grads * (-1.0) ** s
        step(tf.constant(ids), tf.constant(g))
        want = np_sign_sgd(want, ids, g, official_lr(s + 1, 0.2, 2, 6, 0.0), 0.5)
        np.testing.assert_allclose(to_np(table), want, rtol=1e-6, atol=1e-6)
    assert int(to_np(opt.iterations)) == 3


@pytest.mark.skipif(BACKEND != "torch", reason="torch autograd")
def test_sign_sgd_apply_with_torch_autograd_rows():
    import torch

    table0, ids, grads = embedding_problem(5)
    table = keras.Variable(table0)
    # The gradient w.r.t. the gathered rows, as the train step obtains it.
    rows = ops.take(table.value, torch.as_tensor(ids, dtype=torch.int64), axis=0).detach().requires_grad_(True)
    (rows * torch.as_tensor(grads)).sum().backward()
    opt = SignSGDEmbedding(learning_rate=0.1, weight_decay=0.3)
    opt.apply(table, torch.as_tensor(ids), rows.grad)
    want = np_sign_sgd(table0, ids, grads, 0.1, 0.3)
    np.testing.assert_allclose(to_np(table), want, rtol=1e-6, atol=1e-7)
    assert table.value.grad is None


def test_sign_sgd_get_config_round_trip():
    opt = SignSGDEmbedding(learning_rate=WarmupCosine(1e-2, 5, 50, 0.3), weight_decay=0.1, name="emb_opt")
    config = opt.get_config()
    clone = SignSGDEmbedding.from_config(copy.deepcopy(config))
    assert isinstance(clone.learning_rate, WarmupCosine)
    assert clone.get_config() == config
    assert clone.weight_decay == 0.1 and clone.name == "emb_opt"
    assert float(to_np(clone.learning_rate_at(4))) == pytest.approx(1e-2)
    plain = SignSGDEmbedding(learning_rate=3e-3, weight_decay=1.0)
    assert SignSGDEmbedding.from_config(plain.get_config()).get_config() == plain.get_config()


@pytest.mark.skipif(BACKEND != "jax", reason="jax.jit with a Keras StatelessScope")
def test_sign_sgd_apply_inside_stateless_scope_under_jit():
    import jax

    table0, ids, grads = embedding_problem(6)
    table = keras.Variable(table0)
    opt = SignSGDEmbedding(learning_rate=0.1, weight_decay=0.3)

    @jax.jit
    def step(table_value, iterations, ids, grads):
        mapping = [(table, table_value), (opt.iterations, iterations)]
        with keras.StatelessScope(state_mapping=mapping) as scope:
            opt.apply(table, ids, grads)
        return scope.get_current_value(table), scope.get_current_value(opt.iterations)

    new_table, it = step(table.value, opt.iterations.value, ids, grads)
    np.testing.assert_allclose(np.asarray(new_table), np_sign_sgd(table0, ids, grads, 0.1, 0.3), rtol=1e-6, atol=1e-7)
    assert int(it) == 1
    np.testing.assert_array_equal(to_np(table), table0)  # the variable itself is untouched
