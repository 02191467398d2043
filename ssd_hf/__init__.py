"""ssd-hf: Simple Self-Distillation (arXiv 2604.01193) for code models on the Hugging Face stack."""

from .errors import SSDError

__version__ = "0.1.0"
__all__ = ["SSDConfig", "SSDError", "SSDTrainer", "__version__"]


def __getattr__(name):
    # SSDConfig and SSDTrainer pull in TRL and transformers (seconds of import time): load them on first use,
    # so light entry points (the Space, sandbox helpers, `ssd-hf toy`) start fast.
    if name == "SSDConfig":
        from .config import SSDConfig

        return SSDConfig
    if name == "SSDTrainer":
        from .trainer import SSDTrainer

        return SSDTrainer
    raise AttributeError(name)
