"""Utilities below the models: preset files (`preset_utils`) and the `PuzzleSpec` format (`puzzle_spec`).

Nothing here imports a model (the model modules import these, as keras-hub's models import its `preset_utils`).
"""
