"""Hyperparameter search for deep learning: one YAML, one command.

The platform knows nothing about any one model or dataset: tasks live in `data/`,
networks in `models/`, and both are found by name through their registries.
"""
