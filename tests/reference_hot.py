"""A plain NumPy + POT reference implementation of HOT, written from docs/method.md only.

It shares no code with :mod:`hotalign`: every cost is a dense matrix, every plan is a dense
``ot.emd`` solution. It is slow and simple on purpose, and is the oracle of the estimator and
evaluation tests.

docs/method.md, in short:

- z-score every unit (column) with the mean and centred norm of the training rows; held-out
  rows reuse those statistics. A column constant on the training rows is either excluded from
  the transport ("exclude") or kept as an all-zero standardised column, i.e. correlation 0 and
  cost 1 against every unit ("cost_one").
- Level 1: ``K_lm[i, j] = 1 - pearson(X_l[:, i], Y_m[:, j])``, ``Q_lm = emd(1/n_l, 1/n_m, K_lm)``,
  ``C[l, m] = <K_lm, Q_lm>``.
- Level 2: ``P = emd(1/L, 1/M, C)``; the distance is ``<C, P>``.
- Reconstruction on held-out rows: ``Xhat_l = sum_m w[l, m] Zy_m (n_l Q_lm)^T`` with ``w = L P``
  for HOT; score = mean over layers of the mean per-unit Pearson correlation of ``X_l`` and
  ``Xhat_l``, leaving out units that are constant on the held-out rows (or have no plan mass).
- Baselines change only the layer weights ``w``: Perm-P ``L P[perm]``, Single-Best one-hot at
  ``argmax_m P[l, m]``, Pairwise-Best one-hot at ``argmin_m C[l, m]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import ot

__all__ = [
    "ReferenceHOT",
    "pairwise_best_weights",
    "pearson_columns",
    "perm_p_weights",
    "single_best_weights",
    "standardize",
]

_CONST_RTOL = 1e-12


def _uniform(n):
    return np.full(n, 1.0 / n)


def _emd(C):
    n, m = C.shape
    return ot.emd(_uniform(n), _uniform(m), np.ascontiguousarray(C, dtype=np.float64),
                  numItermax=10_000_000)


def standardize(train, test=None):
    """Columns centred and scaled to unit Euclidean norm with the training rows' statistics.

    Returns ``(Z_train, Z_test, constant)``; constant columns come out as zeros.
    """
    train = np.asarray(train, dtype=np.float64)
    mean = train.mean(axis=0)
    norm = np.sqrt(((train - mean) ** 2).sum(axis=0))
    constant = norm <= _CONST_RTOL * np.abs(train).max(axis=0) * np.sqrt(train.shape[0])
    scale = np.zeros_like(norm)
    scale[~constant] = 1.0 / norm[~constant]
    Z_train = (train - mean) * scale
    Z_test = None if test is None else (np.asarray(test, dtype=np.float64) - mean) * scale
    return Z_train, Z_test, constant


def pearson_columns(A, B):
    """Pearson correlation of matching columns; NaN where either column is constant."""
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    r = np.full(A.shape[1], np.nan)
    for i in range(A.shape[1]):
        a = A[:, i] - A[:, i].mean()
        b = B[:, i] - B[:, i].mean()
        na, nb = np.sqrt(a @ a), np.sqrt(b @ b)
        tiny_a = 1e-12 * np.abs(A[:, i]).max() * np.sqrt(A.shape[0])
        tiny_b = 1e-12 * np.abs(B[:, i]).max() * np.sqrt(B.shape[0])
        if na > tiny_a and nb > tiny_b:
            r[i] = min(1.0, max(-1.0, (a @ b) / (na * nb)))
    return r


def perm_p_weights(P, perm):
    """Perm-P: the rows of ``L * P`` permuted by ``perm``."""
    return P.shape[0] * np.asarray(P)[np.asarray(perm)]


def single_best_weights(P):
    """Single-Best OT: weight 1 on ``argmax_m P[l, m]``."""
    w = np.zeros_like(P, dtype=np.float64)
    w[np.arange(P.shape[0]), np.argmax(P, axis=1)] = 1.0
    return w


def pairwise_best_weights(C):
    """Pairwise-Best OT: weight 1 on ``argmin_m C[l, m]``."""
    w = np.zeros_like(C, dtype=np.float64)
    w[np.arange(C.shape[0]), np.argmin(C, axis=1)] = 1.0
    return w


@dataclass
class ReferenceHOT:
    """Two-level HOT with dense costs and dense ``ot.emd`` plans.

    After :meth:`fit`: ``K[l][m]`` (dense unit costs over *kept* units), ``Q[l][m]`` (dense plans
    over all original units, zero rows/columns for excluded units), ``C`` (L x M), ``P`` (L x M),
    ``distance``, ``constant_x``/``constant_y`` (boolean masks per layer).
    """

    constant_units: str = "exclude"

    def fit(self, X, Y):
        self.stats_x = [standardize(A) for A in X]
        self.stats_y = [standardize(B) for B in Y]
        self.constant_x = [s[2] for s in self.stats_x]
        self.constant_y = [s[2] for s in self.stats_y]
        L, M = len(X), len(Y)
        self.C = np.zeros((L, M))
        self.K = [[None] * M for _ in range(L)]
        self.Q = [[None] * M for _ in range(L)]
        for l in range(L):
            Zx, _, cx = self.stats_x[l]
            kx = ~cx if self.constant_units == "exclude" else np.ones_like(cx)
            for m in range(M):
                Zy, _, cy = self.stats_y[m]
                ky = ~cy if self.constant_units == "exclude" else np.ones_like(cy)
                K = 1.0 - Zx[:, kx].T @ Zy[:, ky]
                Qk = _emd(K)
                Q = np.zeros((cx.size, cy.size))
                Q[np.ix_(np.flatnonzero(kx), np.flatnonzero(ky))] = Qk
                self.K[l][m] = K
                self.Q[l][m] = Q
                self.C[l, m] = float(np.sum(K * Qk))
        self.P = _emd(self.C)
        self.distance = float(np.sum(self.C * self.P))
        self._train_x = [np.asarray(A, dtype=np.float64) for A in X]
        self._train_y = [np.asarray(B, dtype=np.float64) for B in Y]
        return self

    def predict(self, Y_test, weights=None):
        """Reconstructions ``Xhat_l`` from held-out rows of Y, in z-scores of the training rows.

        Y's held-out rows are z-scored with the training mean and (population) standard
        deviation, ``(y - mean) / sd_train``, which is the unit-norm standardisation times
        ``sqrt(T_train)``.
        """
        L, M = self.P.shape
        w = L * self.P if weights is None else np.asarray(weights, dtype=np.float64)
        Zy = [standardize(tr, te)[1] * np.sqrt(len(tr)) for tr, te in zip(self._train_y, Y_test)]
        out = []
        for l in range(L):
            n_l = self.Q[l][0].shape[0]
            Xhat = np.zeros((Zy[0].shape[0], n_l))
            for m in range(M):
                Q = self.Q[l][m]
                row = Q.sum(axis=1)
                W = np.zeros_like(Q)
                has = row > 0
                W[has] = Q[has] / row[has, None]  # = n_l Q_lm on rows with mass
                Xhat += w[l, m] * (Zy[m] @ W.T)
            out.append(Xhat)
        return out

    def layer_scores(self, X_test, Y_test, weights=None):
        """Per-layer mean Pearson correlation and number of units left out."""
        Xhat = self.predict(Y_test, weights)
        scores, left_out = [], []
        for A, B in zip(X_test, Xhat):
            r = pearson_columns(A, B)
            ok = np.isfinite(r)
            scores.append(r[ok].mean())
            left_out.append(int(r.size - ok.sum()))
        return np.array(scores), np.array(left_out)

    def score(self, X_test, Y_test, weights=None):
        return float(np.mean(self.layer_scores(X_test, Y_test, weights)[0]))
