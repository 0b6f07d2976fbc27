"""ARC-AGI-1 (+ ConceptARC): TRM-Att (the paper's 44.6% pass@2). Copy this file to make your own recipe.

    python recipes/arc_agi_1.py --size smoke                      # a few ConceptARC tasks: the path, not ARC skill
    python recipes/arc_agi_1.py --print-config                    # every setting, resolved
    keras-trm train arc-agi-1                                     # the paper's run (multi-GPU / TPU)

The settings, the data build and the evaluation (votes across variants and evaluations, pass@K, submission.json)
are `keras_trm.recipes.arc`'s; the run is `keras_trm.recipes.runner.run`.
"""

from dataclasses import dataclass

from keras_trm.recipes import arc


@dataclass
class Config(arc.ARCConfig):
    """The paper's ARC-AGI-1 settings. Change a default by writing it here, e.g. `num_variants: int = 100` (or on
    the command line: `--set num_variants=100`)."""


def main(argv=None):
    """Train and evaluate; returns the results dict (also in <out_dir>/results.json)."""
    return arc.main(argv, config_class=Config)


if __name__ == "__main__":
    main()
