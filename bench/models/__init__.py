"""Models of the seed papers. Each module registers its builders with ``bench.registry``."""
from bench.models import dgnet, ugcn  # noqa: F401
