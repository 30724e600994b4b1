"""Training: pre-flight checks (`preflight`), the loop (`loop.train`), checkpoints, distributed
runs, float8, sampling. Import what you use from its module: this package loads nothing.
"""
