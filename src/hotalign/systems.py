"""Standardised systems: what every level-1 computation of hotalign consumes.

A *system* is a list of layers, ``(T, n_l)`` arrays over the same T stimuli. Before any layer
pair is solved, each layer is standardised once (:class:`~hotalign.costs.ZScore`: centred,
unit-norm columns on the fitting rows, so correlations are dot products), units that are constant
on those rows are handled by the constant-unit policy, and unit marginals are restricted to the
kept units. :func:`standardize_system` does this once for a system and returns a
:class:`StandardizedSystem` holding the scalers, the kept units, the standardised layers (or the
means to rebuild them one at a time under a memory budget), the restricted marginals and the
layers' content keys. :func:`hotalign.solve_grid`, :class:`hotalign.HOT` (plain, memory-budgeted
and HOT+R), :class:`hotalign.TrajectoryHOT` and :func:`hotalign.evaluate` all consume it.

The constant-unit policies (docs/method.md, "Constant units"):

- ``"exclude"``: units constant on the fitting rows leave the transport (their plan rows and
  columns are empty, a given marginal is restricted to the other units and renormalised);
- ``"cost_one"``: they stay, with cost 1 against every unit (their standardised column is 0);
- ``"raise"``: they are an error naming the layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._digest import content_key
from ._validation import MASS_RTOL, as_marginal
from .costs import ZScore
from .results import TransportResult

__all__ = ["StandardizedSystem", "kept_units", "standardize_system",
           "to_original_units"]


@dataclass(eq=False)
class StandardizedSystem:
    """One system standardised on its fitting rows.

    Attributes
    ----------
    name : str
        How messages name the system (``"X"``, ``"A[2]"``, ...).
    scalers : list of ZScore
        Statistics of every layer on the fitting rows.
    kept : list of ndarray of int
        Units of each layer that enter the transport (see the constant-unit policy).
    widths : list of int
        Units per layer, kept or not.
    dtype : numpy.dtype
        float32 or float64: precision of the standardised layers.
    marginals : list of (ndarray or None), or None
        Unit marginals restricted to the kept units and renormalised (None: uniform).
    """

    name: str
    scalers: list
    kept: list
    widths: list
    dtype: np.dtype
    marginals: list | None = None
    _raw: list = field(default=None, repr=False)
    _held: list | None = field(default=None, repr=False)
    _keys: dict = field(default_factory=dict, repr=False)

    def __len__(self):
        return len(self.widths)

    def layer(self, k) -> np.ndarray:
        """Standardised layer k over its kept units, ``(T, len(kept[k]))`` in ``dtype``."""
        if self._held is not None:
            return self._held[k]
        return self.scalers[k].transform(self._raw[k], self.dtype, columns=self.kept[k],
                                         name=f"{self.name}[{k}]")

    def layers(self, index=None) -> list:
        """Standardised layers (all, or those in ``index``)."""
        return [self.layer(k) for k in (range(len(self)) if index is None else index)]

    def content_key(self, k, Z=None) -> str:
        """Content key (BLAKE2b of dtype, shape and bytes) of standardised layer k, computed
        once (``Z``: the layer, when the caller already holds it)."""
        if k not in self._keys:
            self._keys[k] = content_key(self.layer(k) if Z is None else Z)
        return self._keys[k]

    def marginal(self, k):
        """Restricted marginal of layer k (None: uniform)."""
        return None if self.marginals is None else self.marginals[k]

    @property
    def constant_units(self) -> list:
        """Indices of the units constant on the fitting rows, per layer."""
        return [np.flatnonzero(s.constant_) for s in self.scalers]

    @classmethod
    def from_standardized(cls, layers, name="X", marginals=None):
        """A system of layers that are standardised already (centred, unit-norm columns),
        every unit kept; ``marginals``: one (array or None) per layer, each with total 1."""
        layers = list(layers)
        return cls(name=name, scalers=None, kept=[np.arange(Z.shape[1]) for Z in layers],
                   widths=[Z.shape[1] for Z in layers], dtype=layers[0].dtype,
                   marginals=None if marginals is None else list(marginals), _held=layers)

    @classmethod
    def concat(cls, systems, name):
        """One system whose layers are those of ``systems`` in order (held, not recomputed)."""
        return cls(name=name, scalers=[s for S in systems for s in S.scalers],
                   kept=[k for S in systems for k in S.kept],
                   widths=[w for S in systems for w in S.widths], dtype=systems[0].dtype,
                   marginals=None, _raw=None,
                   _held=[Z for S in systems for Z in S.layers()])


def standardize_system(layers, name, *, policy="exclude", dtype=np.float64, marginals=None,
                       hold=True) -> StandardizedSystem:
    """Standardise every layer of a validated system once.

    Parameters
    ----------
    layers : list of array_like, shapes (T, n_l)
        Validated layers (see :func:`hotalign._validation.check_layers`); NaN/inf are found
        here, by the C++ statistics pass, and reported by layer.
    name : str
        The system's name in messages.
    policy : {"exclude", "cost_one", "raise"}
        Constant-unit policy.
    dtype : float32 or float64
        Precision of the standardised layers.
    marginals : list of (ndarray or None), optional
        Validated unit marginals per layer, each with total 1 (None: uniform).
    hold : bool
        Standardise every layer now and hold it (default). False keeps the raw layers and
        standardises a layer whenever it is asked for (a memory budget).

    Returns
    -------
    StandardizedSystem
    """
    scalers = [ZScore().fit(A, f"{name}[{k}]") for k, A in enumerate(layers)]
    kept = kept_units(scalers, policy, name)
    system = StandardizedSystem(
        name=name, scalers=scalers, kept=kept, widths=[A.shape[1] for A in layers],
        dtype=np.dtype(dtype), marginals=_restrict(marginals, kept, name), _raw=list(layers))
    if hold:
        system._held = system.layers()
        system._raw = None
    return system


def kept_units(scalers, policy, name):
    """Indices of the units that enter the transport, per layer, under a constant-unit policy.

    ``"exclude"`` drops units constant on the rows the scalers were fitted on (a layer with no
    unit left is an error), ``"cost_one"`` keeps every unit, ``"raise"`` refuses constant
    units with a ValueError naming the layer.
    """
    kept = []
    for k, s in enumerate(scalers):
        const = np.flatnonzero(s.constant_)
        if const.size and policy == "raise":
            raise ValueError(
                f"{name}[{k}] has units constant on the training rows: {const[:10].tolist()}"
                f"{' ...' if const.size > 10 else ''} (constant_units='raise')"
            )
        if policy == "exclude":
            idx = np.flatnonzero(~s.constant_)
            if idx.size == 0:
                raise ValueError(f"{name}[{k}]: every unit is constant on the training rows")
        else:
            idx = np.arange(s.constant_.size)
        kept.append(idx)
    return kept


def layer_marginals(marginals, layers, name):
    """Validate one unit marginal (or None) per layer, each with total 1."""
    if marginals is None:
        return None
    marginals = list(marginals)
    if len(marginals) != len(layers):
        raise ValueError(f"{name} must give one marginal per layer ({len(layers)}), got "
                         f"{len(marginals)}")
    out = []
    for k, (w, A) in enumerate(zip(marginals, layers)):
        w = as_marginal(w, A.shape[1], f"{name}[{k}]")
        if w is not None and abs(w.sum() - 1.0) > MASS_RTOL:
            raise ValueError(f"{name}[{k}] must sum to 1 like the other system's layers, got "
                             f"{w.sum()!r}")
        out.append(w)
    return out


def _restrict(marginals, kept, name):
    """Marginals restricted to the kept units and renormalised to total 1."""
    if marginals is None:
        return None
    out = []
    for k, (w, idx) in enumerate(zip(marginals, kept)):
        if w is None or idx.size == w.size:
            out.append(w)
            continue
        w = w[idx]
        if not w.sum() > 0:
            raise ValueError(f"{name}[{k}] puts all its mass on constant (excluded) units")
        out.append(w / w.sum())
    return out


def to_original_units(res: TransportResult, kept_x, kept_y, n, m) -> TransportResult:
    """Re-index a plan solved over kept units to the layers' original (n, m) unit indices.

    Excluded units carry no mass and NaN potentials (they are not part of the problem).
    """
    if len(kept_x) == n and len(kept_y) == m:
        return res
    u = np.full(n, np.nan)
    v = np.full(m, np.nan)
    u[kept_x] = res.u
    v[kept_y] = res.v
    return TransportResult(rows=kept_x[res.rows], cols=kept_y[res.cols], weights=res.weights,
                           cost=res.cost, u=u, v=v, status=res.status, n_iter=res.n_iter,
                           shape=(n, m), method=res.method)

