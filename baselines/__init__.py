"""Comparison models the seed papers measure against, registered in ``bench.registry``."""
