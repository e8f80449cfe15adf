"""Benchmarks of hotalign, run by ``hotalign bench``: ratios side by side in one run, medians.

- :mod:`~hotalign.bench.harness`: option checks, round-robin timing, the dual certificate of an
  assignment, the environment record, cost families and the plain NumPy + POT reference of
  HOT's two levels; :mod:`~hotalign.bench.peers`: the one loader of the peer solvers (SciPy,
  lap, lapx, POT);
- ``hotalign bench solvers`` (:mod:`~hotalign.bench.commands`): the family suite
  (:mod:`~hotalign.bench.suites` over :mod:`~hotalign.bench.families`, whose real families
  come from :mod:`~hotalign.bench.real`: packaged pretrained models captured on the stimuli of
  :mod:`~hotalign.bench.stimuli`, EfficientNet-Lite0 from :mod:`~hotalign.bench.vision`), or
  with ``--costs`` the detailed comparison of :mod:`~hotalign.bench.solvers`; Markdown by
  :mod:`~hotalign.bench.reports`, figures by :mod:`~hotalign.bench.figures`;
- ``hotalign bench pipeline`` (:mod:`~hotalign.bench.pipeline`): the layer-pair grid and HOT end
  to end, with :mod:`~hotalign.bench.rotation` (HOT+R and TrajectoryHOT),
  :mod:`~hotalign.bench.lazy` (the certified lazy grid) and :mod:`~hotalign.bench.captured`
  (HOT, HOT+R and lazy on two captured models).

Nothing here is imported by ``import hotalign`` or by the CLI's other commands.
"""
