"""Comparison models the seed papers measure against, registered in ``bench.registry``."""
from baselines import martinez, videopose3d  # noqa: F401  (imported for their @register_model side effect)
