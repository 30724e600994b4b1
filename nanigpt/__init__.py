"""naniGPT: train small GPTs from configs that are precisely specified and exactly reproducible."""

__version__ = "0.1.0"
