"""Deterministic stimuli for the real-network benchmarks: sentences and images.

:func:`sentences` draws English sentences from a small template grammar with a fixed seed;
:func:`images` draws RGB images (gratings, blobs, bars and colour gradients) the same way. Both
depend only on their arguments, so every machine captures the same activations.
"""

from __future__ import annotations

import numpy as np

__all__ = ["images", "sentences"]

_DET = ("the", "a", "one", "every", "that", "my", "our", "some")
_ADJ = ("quiet", "old", "bright", "small", "heavy", "curious", "tired", "golden", "narrow",
        "distant", "broken", "gentle", "angry", "silver", "early", "wooden", "hidden", "warm",
        "cold", "patient")
_NOUN = ("dog", "teacher", "river", "machine", "child", "city", "doctor", "garden", "storm",
         "letter", "engine", "farmer", "window", "bird", "student", "ship", "forest", "painter",
         "clock", "market", "violin", "soldier", "mountain", "kitchen")
_VERB = ("watches", "carries", "follows", "repairs", "remembers", "paints", "finds", "opens",
         "describes", "visits", "ignores", "builds", "crosses", "hears", "moves", "sells",
         "cleans", "studies", "protects", "questions")
_INTRANS = ("sleeps", "waits", "sings", "falls", "laughs", "arrives", "disappears", "shines",
            "breaks", "listens", "travels", "returns")
_ADV = ("slowly", "quietly", "again", "today", "carefully", "suddenly", "at night", "every morning",
        "without a word", "in the rain")
_PREP = ("near", "behind", "under", "beside", "across", "inside", "above", "beyond")
_CONJ = ("because", "while", "although", "before", "after", "when")


def _np(rng):
    det, noun = rng.choice(_DET), rng.choice(_NOUN)
    return f"{det} {rng.choice(_ADJ)} {noun}" if rng.random() < 0.5 else f"{det} {noun}"


def _clause(rng):
    if rng.random() < 0.6:
        core = f"{_np(rng)} {rng.choice(_VERB)} {_np(rng)}"
    else:
        core = f"{_np(rng)} {rng.choice(_INTRANS)}"
    if rng.random() < 0.4:
        core += f" {rng.choice(_PREP)} {_np(rng)}"
    if rng.random() < 0.3:
        core += f" {rng.choice(_ADV)}"
    return core


def sentences(n, seed=0) -> list:
    """``n`` distinct sentences of a fixed-seed template grammar.

    Parameters
    ----------
    n : int
        Number of sentences.
    seed : int
        Seed of the grammar's random choices.

    Returns
    -------
    list of str
        Each a clause, two clauses joined by a conjunction, or a question, 4 to ~25 words.
    """
    rng = np.random.default_rng([seed, 20])
    out, seen = [], set()
    while len(out) < n:
        r = rng.random()
        if r < 0.55:
            text = _clause(rng)
        elif r < 0.85:
            text = f"{_clause(rng)} {rng.choice(_CONJ)} {_clause(rng)}"
        else:
            text = f"{rng.choice(('is it true that', 'do you think', 'who saw that'))} {_clause(rng)}?"
        text = text[0].upper() + text[1:]
        if not text.endswith("?"):
            text += "."
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def images(start, stop, size=224, seed=0) -> np.ndarray:
    """Images ``start .. stop - 1`` of a deterministic sequence, as float32 ``(N, 3, size,
    size)`` in [0, 1].

    Image k is drawn from its own generator (``seed``, k): a colour gradient, an oriented
    sinusoidal grating, a few Gaussian blobs and a bar, each with random colour, position,
    frequency and contrast, plus a little pixel noise.
    """
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    out = np.empty((stop - start, 3, size, size), np.float32)
    for i, k in enumerate(range(start, stop)):
        rng = np.random.default_rng([seed, 21, k])
        c0, c1 = rng.random(3, dtype=np.float32), rng.random(3, dtype=np.float32)
        theta = rng.uniform(0, np.pi)
        t = np.cos(theta) * xx + np.sin(theta) * yy
        img = c0[:, None, None] + (c1 - c0)[:, None, None] * t[None] / max(t.max(), 1e-6)
        freq, phase = rng.uniform(2, 24), rng.uniform(0, 2 * np.pi)
        phi = rng.uniform(0, np.pi)
        grating = np.sin(2 * np.pi * freq * (np.cos(phi) * xx + np.sin(phi) * yy) + phase)
        img += rng.uniform(0.05, 0.4) * grating[None] * rng.random(3, dtype=np.float32)[:, None,
                                                                                        None]
        for _ in range(rng.integers(1, 5)):
            cx, cy, r = rng.random(), rng.random(), rng.uniform(0.03, 0.25)
            blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
            img += (rng.random(3, dtype=np.float32) - 0.5)[:, None, None] * blob[None]
        w, pos, ang = rng.uniform(0.01, 0.08), rng.random(), rng.uniform(0, np.pi)
        d = np.abs(np.cos(ang) * (xx - pos) + np.sin(ang) * (yy - 0.5))
        img += (rng.random(3, dtype=np.float32) - 0.5)[:, None, None] * (d < w)[None]
        img += 0.02 * rng.standard_normal(img.shape, dtype=np.float32)
        out[i] = np.clip(img, 0.0, 1.0)
    return out
