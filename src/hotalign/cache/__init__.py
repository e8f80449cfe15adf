"""A resumable on-disk cache: fitted estimators (one entry per fit) and solved layer pairs.

Design
------
Two kinds of entries, both in a folder of ``<key>.npz`` files, held together by a
:class:`Memory` (``HOT(memory=...)``, ``TrajectoryHOT(memory=...)``):

- :class:`FitCache`, one entry per *fit*: the estimator's fitted state (unit plans of every
  layer pair, layer costs C, layer plan P, z-scoring statistics, rotations for HOT+R, ...) after
  ``fit(X, Y)``. :func:`hotalign.evaluate` fits once per split, so a resumed run skips every
  split whose fit was stored (scoring from the cached fit is cheap).
- :class:`PairCache`, one entry per *layer pair* (plain or HOT+R): the pair's result, written
  as soon as the pair is solved. :func:`hotalign.grid.solve_systems` loads the pairs it finds
  and sends only the missing ones to the pair engine (:mod:`hotalign.engine`), so a run killed
  in the middle of a grid loses only the pairs in flight; this serves every grid of
  ``HOT.fit`` (plain, budgeted and HOT+R), ``TrajectoryHOT.fit`` and ``evaluate``.

Keys. A fit's key is the BLAKE2b (32 bytes) of

- a format tag and ``hotalign.__version__`` (a new version never reuses an old result);
- the estimator's class and every parameter that can change a result (all of ``get_params()``
  except ``n_threads`` and ``max_layers_in_memory``: results do not depend on them);
- the *content* of the training rows handed to ``fit``: dtype, shape and bytes of every layer of
  X and of Y, in order.

A pair's key is the BLAKE2b of a format tag, the version, the content keys (BLAKE2b of dtype,
shape and bytes) of the two *standardised* layers it solves, computed once per layer and grid,
those of its two unit marginals (or "uniform"), the pivot limit ``max_iter`` and, for HOT+R,
the rotation options. The
standardised layers already depend on the rows, the dtype and the constant-unit policy, so
these are all the inputs of a pair's solve.

Because keys hash the data actually solved, a different input file, layer selection, split,
seed, dtype or marginal gives a different key; a stale hit would need a hash collision.

Plans are stored once. A :class:`FitCache` given the run's :class:`PairCache` (``pairs=``)
stores each unit plan that came from a pair entry as a reference to that entry (its key), not
as a second copy; loading the fit loads the referenced pair entries (validated as any pair
entry) and a fit whose pair entries are gone is a miss. Plans that did not come from a pair
entry are stored in the fit entry itself: those of layer pairs with excluded constant units
(re-indexed to the original units).

Size. A cache grows with the number of layer pairs (a 28 x 28 grid of 3072-unit layers holds
gigabytes over a few splits). :func:`usage` measures a cache folder, :func:`prune` removes the
entries not used for a given time (a hit refreshes an entry's modification time), and the CLI
prints the size at the end of a run: ``hotalign cache info DIR`` and ``hotalign cache prune DIR
--older-than 7d``.

Untrusted entries. A cache folder may come from someone else, so reading an entry never runs
code. An entry is a ``.npz`` of plain arrays read with ``allow_pickle=False`` and a JSON tree of
plain values. The only objects it can describe are three registered types,
:class:`~hotalign.results.TransportResult`, :class:`~hotalign.costs.ZScore` and
:class:`~hotalign.results.PairRotation`, named by a
fixed tag that is looked up in a dict (no name from the file is ever imported or resolved).
Each object, and a fit's whole state, is validated on load: field names, types, dtypes and
shapes against the layers being fitted (the estimator checks its own fitted state:
``HOT.check_fitted_state``). An entry that does not validate (unknown type, missing
or wrong-typed field, wrong shape, another key) is a miss: it is recomputed and rewritten, and
the first one is reported (``report=`` or a :class:`CacheWarning`).

Atomicity and concurrency. An entry is written to a new temporary file in the same folder
(created exclusively under an unpredictable name) and moved into place with ``os.replace``,
which is atomic on POSIX and Windows and replaces a link planted at the entry's name rather
than writing through it. A run killed at any
moment (SIGINT or SIGKILL) leaves either no entry or a complete one. Temporary files name their
host and process; :meth:`~_Entries.sweep` removes only those whose writer is gone (or that are a
day old), never another live run's. The CLI also holds :func:`locked` on ``--out`` for the whole
run, so a second run on the same folder stops at once with a clear message.

Modules: :mod:`~hotalign.cache.store` (entry files, the folder lock, usage and pruning),
:mod:`~hotalign.cache.codec` (the allow-list encoding), :mod:`~hotalign.cache.keys` (entry keys)
and :mod:`~hotalign.cache.memory` (:class:`FitCache`, :class:`PairCache`, :class:`Memory`).
"""

from .codec import InvalidEntry
from .keys import RESULT_NEUTRAL_PARAMS
from .memory import FitCache, Memory, PairCache, as_memory
from .store import CacheWarning, OutLocked, locked, prune, usage

__all__ = ["CacheWarning", "FitCache", "InvalidEntry", "Memory", "OutLocked", "PairCache",
           "locked", "prune", "usage"]
