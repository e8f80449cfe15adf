"""The ``results.json`` documents of ``hotalign align`` and ``hotalign trajectory``: one owner
for both schemas (the scores themselves come from :meth:`hotalign.Evaluation.to_dict`).

Each function returns a dict in the order of its keys on disk; the CLI writes it with
:func:`hotalign.io.write_json` (arrays as lists, NaN as null).
"""

from __future__ import annotations

from ._version import __version__

__all__ = ["align_results", "trajectory_results"]


def _system(s) -> dict:
    """The ``inputs`` record of one :class:`hotalign.io.System`."""
    return {"path": str(s.source), "sha256": s.digest, "layers": s.names,
            "widths": [w for _, w in s.shapes], "n_stimuli": s.n_stimuli,
            "has_stimulus_ids": s.stimulus_ids is not None}


def align_results(X, Y, parameters: dict, evaluation, full, full_r, cache, seconds) -> dict:
    """``results.json`` of ``hotalign align``.

    Parameters
    ----------
    X, Y : hotalign.io.System
        The two systems compared.
    parameters : dict
        The run's options, as given (recorded as they are).
    evaluation : hotalign.Evaluation
        The held-out scores over the splits.
    full, full_r : HOT, HOT or None
        The fits on all rows (plain, and HOT+R or None).
    cache : dict or None
        The run's cache record (folder, size, hits, misses, invalid entries).
    seconds : float
        Wall-clock time of the run.
    """
    return {
        "hotalign_version": __version__,
        "command": "align",
        "inputs": {key: _system(s) for key, s in (("X", X), ("Y", Y))},
        "parameters": parameters,
        **evaluation.to_dict(X.names, Y.names, full, full_r),
        "cache": cache,
        "seconds": seconds,
    }


def trajectory_results(A, B, model, parameters: dict, cache, seconds, lazy=False) -> dict:
    """``results.json`` of ``hotalign trajectory``.

    Parameters
    ----------
    A, B : tuple
        ``(path, checkpoint names, systems)`` of each trajectory.
    model : hotalign.TrajectoryHOT
        The fitted coupling: ``checkpoint_costs_`` D (K_A, K_B), ``checkpoint_plan_``
        (K_A, K_B), ``distance_``, ``greedy_match_`` and, for a lazy fit, the solved pairs.
    parameters : dict
        The run's options, as given.
    cache : dict or None
        The run's cache record.
    seconds : float
        Wall-clock time of the run.
    lazy : bool
        Whether the fit was lazy (adds the ``lazy`` record).
    """
    D, G = model.checkpoint_costs_, model.checkpoint_plan_
    return {
        "hotalign_version": __version__,
        "command": "trajectory",
        "inputs": {tag: {"path": str(path), "checkpoints": names,
                         "sha256": [s.digest for s in systems]}
                   for tag, (path, names, systems) in (("A", A), ("B", B))},
        "parameters": parameters,
        "D": {"meaning": "D[k][k']: HOT distance <C, P> of checkpoint k of A and k' of B "
                         "(lower = more alike)", "values": D},
        "coupling": {"meaning": "transport plan between checkpoints (uniform marginals)",
                     "values": G, "argmax": G.argmax(axis=1)},
        "distance": {"meaning": "<D, coupling> (lower = more alike)", "value": model.distance_},
        "greedy_match": {"meaning": "greedy baseline: argmin_k' D[k, k']",
                         "values": model.greedy_match_},
        **({"lazy": {
            "meaning": "certified lazy grid at both levels: D is null for checkpoint pairs "
                       "that were not fitted; the coupling and greedy matches are exact",
            "solved_checkpoints": model.solved_checkpoints_,
            "layer_pairs_solved": model.n_pairs_solved_,
            "layer_pairs": int(model.layer_costs_.size)}} if lazy else {}),
        "cache": cache,
        "seconds": seconds,
    }
