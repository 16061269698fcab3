"""Models of the seed papers. Each module registers its builders with ``bench.registry``."""
from bench.models import attention_tcn, dgnet, gastnet, ugcn  # noqa: F401
