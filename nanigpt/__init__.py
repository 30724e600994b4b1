"""naniGPT: train small GPTs from configs that are precisely specified and exactly reproducible."""

from nanigpt._version import __version__

__all__ = ["__version__"]
