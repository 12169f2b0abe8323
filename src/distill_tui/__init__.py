"""distill-tui: the whole model-distillation loop in a terminal."""

__version__ = "0.1.0"
