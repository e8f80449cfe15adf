"""Benchmarks of hotalign, run by ``hotalign bench``: ratios side by side in one run, medians.

- :mod:`~hotalign.bench.harness`: option checks, timing, the environment record, cost families
  and the plain NumPy + POT reference of HOT's two levels;
- :mod:`~hotalign.bench.solvers`: exact solvers against POT, SciPy, lap and lapx
  (``hotalign bench solvers``), with :mod:`~hotalign.bench.families` (the structure axis of HOT
  costs);
- :mod:`~hotalign.bench.pipeline`: the layer-pair grid and HOT end to end
  (``hotalign bench pipeline``), with :mod:`~hotalign.bench.rotation` (HOT+R and TrajectoryHOT)
  and :mod:`~hotalign.bench.lazy` (the certified lazy grid).

Nothing here is imported by ``import hotalign`` or by the CLI's other commands.
"""
