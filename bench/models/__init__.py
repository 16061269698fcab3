"""Models of the seed papers. Each module registers its builders with ``bench.registry``."""
