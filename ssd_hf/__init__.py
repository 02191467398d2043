"""ssd-hf: Simple Self-Distillation (arXiv 2604.01193) for code models on the Hugging Face stack."""

from .config import SSDConfig
from .errors import SSDError

__version__ = "0.1.0"
__all__ = ["SSDConfig", "SSDError", "SSDTrainer", "__version__"]


def __getattr__(name):
    # The trainer pulls in torch/TRL training code: import it only when asked for.
    if name == "SSDTrainer":
        from .trainer import SSDTrainer

        return SSDTrainer
    raise AttributeError(name)
