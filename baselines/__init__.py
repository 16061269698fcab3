"""Comparison models the seed papers measure against, registered in ``bench.registry``."""
# Imported for their @register_model side effect.
from baselines import edm, hossain, martinez, semgcn, videopose3d  # noqa: F401
