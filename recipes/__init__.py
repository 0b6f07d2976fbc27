"""Copyable training scripts, one per benchmark, built on `keras_trm.recipes` (where the registry and runner live)."""
