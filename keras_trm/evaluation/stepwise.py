"""Inference one supervision step at a time over a pool of rows that is refilled as rows halt.

`run_stepwise` keeps `batch_size` slots. Each call of the backbone (one compiled shape: the functional
`TRMBackbone` maps z_H, z_L, tokens and identifiers to the next z_H, z_L, logits and halt logits) advances every
slot one supervision step; a row that halts (its `HaltingRule`, or `max_steps`) hands its slot to the next waiting
row, which starts from H_init / L_init. Once no row is waiting, the running rows move into a smaller pool (a power
of two), so the last steps do not pay for empty slots. So the work follows the rows' mean steps, not the slowest
row of each batch: with halting, wall time falls as the mean steps fall. Halting decisions are made here
on the host, so a new rule never re-compiles anything.

Rollouts: `rollouts=K` runs each puzzle K times; rollout 0 starts from H_init / L_init exactly, rollout k > 0 from
them plus Gaussian noise of standard deviation `noise` (drawn from `seed`, the puzzle's index and k, so a result
does not depend on the batch size). The answer of each puzzle is chosen among its rollouts by `select`: "vote"
(the most frequent answer, ties by the higher mean confidence) or "confidence" (the rollout with the highest
confidence). With `augment` ("sudoku" or "maze"), rollouts k > 0 also see the puzzle under a random symmetry of
its benchmark (relabelled digits and shuffled rows for Sudoku, rotations and reflections for mazes), and their
answers are mapped back before the vote: test-time augmentation.

Example:
    >>> from keras_trm import TRMPuzzleSolver
    >>> from keras_trm.evaluation.halting import HaltingRule
    >>> solver = TRMPuzzleSolver.from_preset("trm_sudoku_4x4")
    >>> x = solver.preprocessor.encode(["1.....3..1.....4"])[0]      # (1, 16) tokens
    >>> out = run_stepwise(solver, x, rule=HaltingRule(0.5))
    >>> out["tokens"].shape, out["steps"].tolist()
    ((1, 16), [1])
"""

from __future__ import annotations

import numpy as np
from keras import ops

from keras_trm.evaluation.halting import HaltingRule  # noqa: F401 (the rule type, for readers)
from keras_trm.evaluation.symmetry import SYMMETRIES, logits_to_original, random_view, to_original

SELECTIONS = ("vote", "confidence")


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def run_stepwise(
    solver,
    inputs,
    puzzle_identifiers=None,
    rule=None,
    batch_size=64,
    max_steps=None,
    rollouts=1,
    noise=0.0,
    seed=0,
    select="vote",
    trace=False,
    augment=None,
    compact=True,
):
    """Run `solver` step by step on token rows, refilling halted rows' slots; optionally K rollouts per puzzle.

    Args:
        solver: a `TRMPuzzleSolver` (its `backbone` and `halt_max_steps` are used).
        inputs: int (N, L) token rows.
        puzzle_identifiers: int (N,) (default 0: the blank identifier).
        rule: a `HaltingRule`, or None: every row runs `max_steps` steps.
        batch_size: int. Slots of the pool (one compiled shape). Default 64.
        max_steps: int. The most steps of a row (default the solver's `halt_max_steps`).
        rollouts: int. Runs per puzzle (default 1).
        noise: float. Standard deviation of the noise added to the initial states of rollouts 1.. (default 0).
        seed: int. Seed of that noise (default 0).
        select: "vote" or "confidence": how a puzzle's answer is chosen among its rollouts (default "vote").
        trace: bool. Also return every step's answer and confidence (needs `rule=None` and `rollouts=1`).
        augment: None, "sudoku" or "maze". Rollouts 1.. also see the puzzle under a random symmetry of that
            benchmark (`keras_trm.evaluation.symmetry`); their answers are mapped back before the vote. Default None.
        compact: bool. Once no row is waiting, move the running rows into a smaller pool (a power of two at least
            their number), so the last steps do not pay for empty slots. Default True.

    Returns:
        dict of numpy arrays, per puzzle: "tokens" (N, L), "logits" (N, L, V), "q_halt_logits" (N,),
        "confidence" (N,) of the chosen rollout, "steps" (N,) its steps, "votes" (N,) rollouts that gave that
        answer; "backbone_calls" (int) and "row_steps" (int, steps summed over all rollouts). With `trace`:
        "trace_tokens" (N, T, L) and "trace_confidence" (N, T).
    """
    inputs = np.asarray(inputs, np.int32)
    if inputs.ndim != 2:
        raise ValueError(f"inputs must be (N, L) tokens, got shape {inputs.shape}")
    n, length = inputs.shape
    ids = np.zeros((n,), np.int32) if puzzle_identifiers is None else np.asarray(puzzle_identifiers, np.int32)
    if ids.shape != (n,):
        raise ValueError(f"puzzle_identifiers must be ({n},), got shape {ids.shape}")
    if augment is not None and augment not in SYMMETRIES:
        raise ValueError(f"augment must be None or one of {SYMMETRIES}, got {augment!r}")
    if select not in SELECTIONS:
        raise ValueError(f"select must be one of {SELECTIONS}, got {select!r}")
    rollouts, max_steps = int(rollouts), int(max_steps or solver.halt_max_steps)
    if rollouts < 1 or max_steps < 1 or int(batch_size) < 1:
        raise ValueError(f"rollouts, max_steps and batch_size must be >= 1, got {rollouts}, {max_steps}, {batch_size}")
    if trace and (rule is not None or rollouts != 1):
        raise ValueError("trace=True needs rule=None and rollouts=1 (a fixed-step run)")

    backbone = solver.backbone
    vocabulary = int(backbone.vocabulary_size)
    identity = (np.arange(length), np.arange(vocabulary))
    views = [identity] * max(1, min(int(batch_size), n * rollouts))  # each slot's (perm, token_map)
    init_H, init_L = (ops.convert_to_numpy(ops.cast(t[0], "float32")) for t in backbone.initial_states(1))  # (S, D)
    items = n * rollouts  # item j: puzzle j // rollouts, rollout j % rollouts
    slots = max(1, min(int(batch_size), items))
    S, D = init_H.shape
    z_H, z_L = np.zeros((slots, S, D), np.float32), np.zeros((slots, S, D), np.float32)
    tokens_in, ids_in = np.zeros((slots, length), np.int32), np.zeros((slots,), np.int32)
    item_of = np.full((slots,), -1, np.int64)
    steps, unchanged = np.zeros((slots,), np.int64), np.zeros((slots,), np.int64)
    previous = np.zeros((slots, length), np.int64)

    done_tokens = np.zeros((items, length), np.int32)
    done_logits, done_q = None, np.zeros((items,), np.float32)
    done_steps = np.zeros((items,), np.int64)
    if trace:
        trace_tokens = np.zeros((n, max_steps, length), np.int32)
        trace_conf = np.zeros((n, max_steps), np.float32)
    waiting, calls = 0, 0

    while True:
        for slot in np.flatnonzero(item_of < 0):  # refill free slots with waiting rows
            if waiting >= items:
                break
            puzzle, k = divmod(waiting, rollouts)
            z_H[slot], z_L[slot] = init_H, init_L
            if k and noise:
                rng = np.random.default_rng([int(seed), puzzle, k])
                z_H[slot] += noise * rng.standard_normal((S, D), np.float32)
                z_L[slot] += noise * rng.standard_normal((S, D), np.float32)
            views[slot] = identity
            if k and augment:
                views[slot] = random_view(augment, length, vocabulary, np.random.default_rng([int(seed), puzzle, k, 1]))
            perm, token_map = views[slot]
            tokens_in[slot], ids_in[slot] = token_map[inputs[puzzle][perm]], ids[puzzle]
            item_of[slot], steps[slot], unchanged[slot] = waiting, 0, 0
            waiting += 1
        active = item_of >= 0
        if not active.any():
            break
        if compact and waiting >= items and _pool_size(int(active.sum())) < len(item_of):
            running = np.flatnonzero(active)
            order = np.concatenate([running, np.flatnonzero(~active)[: _pool_size(len(running)) - len(running)]])
            z_H, z_L, tokens_in, ids_in = z_H[order], z_L[order], tokens_in[order], ids_in[order]
            item_of, steps, unchanged, previous = item_of[order], steps[order], unchanged[order], previous[order]
            views = [views[i] for i in order]
            active = item_of >= 0
        out = backbone.predict_on_batch({"z_H": z_H, "z_L": z_L, "inputs": tokens_in, "puzzle_identifiers": ids_in})
        calls += 1
        z_H, z_L = np.asarray(out["z_H"], np.float32), np.asarray(out["z_L"], np.float32)
        logits = np.asarray(out["logits"], np.float32)  # (slots, L, V)
        q_halt = np.asarray(out["q_halt_logits"], np.float32).reshape(-1)
        answer = logits.argmax(-1)
        confidence = _sigmoid(q_halt)
        unchanged = np.where(np.all(answer == previous, axis=-1) & (steps > 0), unchanged + 1, 0)
        previous = answer
        steps = steps + active
        if trace:
            rows = np.flatnonzero(active)
            trace_tokens[item_of[rows], steps[rows] - 1] = answer[rows]
            trace_conf[item_of[rows], steps[rows] - 1] = confidence[rows]
        stop = active & (steps >= max_steps)
        if rule is not None:
            stop |= active & rule.stops(confidence, unchanged)
        for slot in np.flatnonzero(stop):
            j = item_of[slot]
            if done_logits is None:
                done_logits = np.zeros((items,) + logits.shape[1:], np.float32)
            perm, token_map = views[slot]
            done_tokens[j] = to_original(answer[slot], perm, token_map)
            done_logits[j] = logits_to_original(logits[slot], perm, token_map)
            done_q[j], done_steps[j] = q_halt[slot], steps[slot]
            item_of[slot] = -1

    if done_logits is None:  # no rows
        done_logits = np.zeros((0, length, backbone.vocabulary_size), np.float32)
    chosen, votes = _choose(done_tokens.reshape(n, rollouts, length), _sigmoid(done_q).reshape(n, rollouts), select)
    pick = np.arange(n) * rollouts + chosen
    result = {
        "tokens": done_tokens[pick],
        "logits": done_logits[pick],
        "q_halt_logits": done_q[pick],
        "confidence": _sigmoid(done_q[pick]).astype(np.float32),
        "steps": done_steps[pick].astype(np.int32),
        "votes": votes.astype(np.int32),
        "backbone_calls": calls,
        "row_steps": int(done_steps.sum()),
    }
    if trace:
        result.update(trace_tokens=trace_tokens, trace_confidence=trace_conf)
    return result


def _pool_size(rows):
    """The smallest power of two >= rows: the compacted pool sizes (few shapes, so few compilations)."""
    return 1 << max(0, int(rows) - 1).bit_length()


def _choose(tokens, confidence, select):
    """Per puzzle, the index of the chosen rollout and how many rollouts gave its answer.

    tokens (N, K, L), confidence (N, K) -> (chosen (N,), votes (N,)).
    """
    n, k = confidence.shape
    chosen, votes = np.zeros((n,), np.int64), np.ones((n,), np.int64)
    for i in range(n):
        answers = {}
        for r in range(k):
            answers.setdefault(tokens[i, r].tobytes(), []).append(r)
        if select == "confidence":
            chosen[i] = int(np.argmax(confidence[i]))
            votes[i] = len(answers[tokens[i, chosen[i]].tobytes()])
        else:  # the most frequent answer, ties by the higher mean confidence; its most confident rollout
            group = max(answers.values(), key=lambda rs: (len(rs), float(np.mean(confidence[i, rs]))))
            chosen[i] = group[int(np.argmax(confidence[i, group]))]
            votes[i] = len(group)
    return chosen, votes
