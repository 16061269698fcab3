"""Training and evaluation engine: windows, trainer, evaluator, checkpoints, one-experiment runner."""
