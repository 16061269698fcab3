"""Reference harness for video 2D-to-3D human pose lifting."""
from bench.registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model"]
__version__ = "0.1.0"
