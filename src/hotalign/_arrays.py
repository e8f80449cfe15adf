"""Array-type boundary of the POT-compatible functions: torch or JAX in, the same type out.

The solvers run on NumPy arrays. :class:`Boundary` converts torch tensors and JAX arrays to NumPy
on entry (detached from autograd, copied to host memory) and converts results back to the array
type, dtype and device of a reference input on exit, as POT's backends do. Lists, scalars and
NumPy arrays pass through unchanged. Neither torch nor jax is imported unless the caller passed
one of their arrays, so both stay optional.

Sparse cost matrices (``scipy.sparse``, torch sparse layouts) are solved on their stored entries by
:mod:`hotalign.sparse_costs` before they reach this module; on the dense path, and for
``jax.experimental.sparse`` (which POT does not support either), they are refused with
``TypeError``: in POT a missing entry of a sparse ``M`` means a forbidden pair, and densifying it
with zeros would silently change the problem.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Boundary", "check_not_sparse", "family"]


def family(x) -> str:
    """``"torch"``, ``"jax"`` or ``"numpy"`` (NumPy arrays, lists, scalars, None)."""
    root = type(x).__module__.partition(".")[0]
    if root == "torch":
        return "torch"
    if root in ("jax", "jaxlib"):
        return "jax"
    return "numpy"


def _is_empty(x) -> bool:
    if x is None:
        return True
    try:
        return len(x) == 0
    except TypeError:  # 0-d arrays and scalars
        return False


def check_not_sparse(x, name: str) -> None:
    """Raise TypeError naming ``name`` if ``x`` is a sparse matrix of any supported library."""
    module = type(x).__module__
    sparse = module.startswith("scipy.sparse") or module.startswith("jax.experimental.sparse")
    if family(x) == "torch":
        import torch

        sparse = x.layout != torch.strided
    if sparse:
        raise TypeError(
            f"{name}: sparse cost matrices ({type(x).__name__}) are not supported here: in POT a "
            f"missing entry means a forbidden pair. emd / emd2 solve scipy.sparse and torch "
            f"sparse costs on their stored entries; otherwise pass a dense {name}."
        )


class Boundary:
    """Converts the inputs of one call to NumPy and its outputs back to the callers' array type.

    Parameters
    ----------
    **inputs
        The array arguments of the call by name (``a``, ``b``, ``M``, ...). The reference for the
        output type is the first non-empty torch/JAX one in the given order (POT's ``type_as``:
        ``a``, then ``b``, then ``M``).
    """

    def __init__(self, **inputs):
        kinds = {}
        for name, x in inputs.items():
            kind = family(x)
            if kind != "numpy":
                kinds.setdefault(kind, name)
        if len(kinds) > 1:
            names = " and ".join(f"{name} ({kind})" for kind, name in kinds.items())
            raise TypeError(f"arrays of different libraries cannot be mixed: {names}")
        self.kind = next(iter(kinds), "numpy")
        self.ref = None
        if self.kind != "numpy":
            candidates = [x for x in inputs.values() if family(x) == self.kind]
            nonempty = [x for x in candidates if not _is_empty(x)]
            self.ref = (nonempty or candidates)[0]

    # ---- entry ---------------------------------------------------------------------------
    def to_numpy(self, x, name: str):
        """``x`` as a NumPy array (torch/JAX), or unchanged (anything else)."""
        kind = family(x)
        if kind == "torch":
            import torch

            x = x.detach()
            if x.dtype in (torch.bfloat16, torch.float16):
                x = x.to(torch.float32)
            return x.cpu().numpy()
        if kind == "jax":
            try:
                return np.asarray(x)
            except Exception as err:  # a tracer inside jax.jit / jax.grad
                raise TypeError(
                    f"{name}: JAX arrays being traced (inside jax.jit, jax.grad, ...) are not "
                    "supported; call hotalign outside JAX transformations"
                ) from err
        return x

    # ---- exit ----------------------------------------------------------------------------
    def _dtype(self):
        if self.kind == "torch":
            return self.ref.dtype if self.ref.is_floating_point() else None
        return self.ref.dtype if np.issubdtype(self.ref.dtype, np.floating) else None

    def array(self, arr: np.ndarray):
        """A NumPy result as an array of the reference type, dtype (if floating) and device."""
        if self.kind == "numpy":
            return arr
        dtype = self._dtype()
        if self.kind == "torch":
            import torch

            out = torch.from_numpy(np.asarray(arr, order="C"))
            return out.to(device=self.ref.device, dtype=dtype or torch.float64)
        import jax
        import jax.numpy as jnp

        out = jnp.asarray(arr, dtype=dtype or arr.dtype)
        try:
            device = next(iter(self.ref.devices()))
        except (AttributeError, TypeError, StopIteration):
            return out
        return jax.device_put(out, device)

    def scalar(self, value: float, gradients=()):
        """A cost as a 0-d array of the reference type (a float for NumPy callers).

        ``gradients`` is a sequence of ``(input, gradient)`` pairs (gradient as a NumPy array of
        the input's shape). For torch inputs that require grad, the returned value carries those
        gradients, POT's way: the value is exact, and its gradient with respect to each input is
        the given array (the dual potentials for the marginals, the plan for the costs).
        """
        if self.kind == "numpy":
            return value
        out = self.array(np.asarray(value, dtype=np.float64))
        if self.kind != "torch":
            return out
        import torch

        if not torch.is_grad_enabled():
            return out
        for x, grad in gradients:
            # (an empty marginal means uniform: it has no gradient)
            if family(x) == "torch" and x.requires_grad and tuple(x.shape) == grad.shape:
                g = torch.from_numpy(np.ascontiguousarray(grad)).to(device=x.device,
                                                                    dtype=x.dtype)
                # (x - x.detach()) is exactly zero, so the value is unchanged; d/dx is g.
                out = out + ((x - x.detach()) * g).sum().to(out.dtype)
        return out
