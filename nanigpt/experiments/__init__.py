"""Many experiments at once: sweeps (`axes.py` expands a spec with axes into members,
`sweep.py` runs them, `record.py` keeps the sweep's record in `runs/sweeps/`), and the views over
many runs (`compare.py`, `plot.py`). Above the run store and its lifecycle, below the CLI."""
