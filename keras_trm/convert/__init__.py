"""Importers of checkpoints written by other implementations."""

from keras_trm.convert.official import (  # noqa: F401
    backbone_kwargs_from_official,
    import_official_checkpoint,
    import_official_to_preset,
    load_official_arch_config,
    load_official_state_dict,
)
