"""The contract's checks of an operation's arguments (:mod:`kernels.interface`), shared by every backend.

Each backend operation calls one of these on entry, so that a wrong shape or dtype is a ``ValueError`` that
names the operation and the argument, rather than a read or write past an array's end in a compiled kernel
(which kills the interpreter) or a silently wrong result. They compare shapes and dtypes only, a few hundred
nanoseconds: no pass over the data. A label's range is the one check that needs a pass; a backend makes it
where it reads the labels (a compiled kernel: one compare per row) and reports it with
:func:`labels_outside`.
"""

from __future__ import annotations

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

# The axis of ``a`` and of ``b`` that each product sums over.
_SUMMED_AXES = {"matmul": (1, 0), "matmul_tn": (0, 0), "matmul_nt": (1, 1)}


def _check_matrix(op: str, name: str, x: object, dtype: np.dtype | None = None) -> None:
    """``x`` is a 2-D float array, of ``dtype`` if given."""
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{op}: {name} must be a NumPy array, got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise ValueError(f"{op}: {name} has dtype {x.dtype}, expected float32 or float64")
    if dtype is not None and x.dtype != dtype:
        raise ValueError(f"{op}: {name} has dtype {x.dtype}, the other arguments {dtype}")
    if x.ndim != 2:
        raise ValueError(f"{op}: {name} must be 2-D, got shape {x.shape}")


def _check_shape(op: str, name: str, x: np.ndarray, shape: tuple[int, ...]) -> None:
    if x.shape != shape:
        raise ValueError(f"{op}: {name} has shape {x.shape}, expected {shape}")


def check_out(op: str, out: np.ndarray | None, shape: tuple[int, ...], dtype: np.dtype) -> None:
    """``out``, if given, is a C-contiguous array of the result's ``shape`` and ``dtype``."""
    if out is None:
        return
    if not isinstance(out, np.ndarray):
        raise ValueError(f"{op}: out must be a NumPy array, got {type(out).__name__}")
    if out.dtype != dtype:
        raise ValueError(f"{op}: out has dtype {out.dtype}, the inputs {dtype}")
    _check_shape(op, "out", out, shape)
    if not out.flags.c_contiguous:
        raise ValueError(f"{op}: out must be C-contiguous")


def product_shape(op: str, a: np.ndarray, b: np.ndarray, out: np.ndarray | None) -> tuple[int, int]:
    """The shape of the product ``op`` (``matmul``, ``matmul_tn`` or ``matmul_nt``) of ``a`` and ``b``, once
    they and ``out`` are checked."""
    _check_matrix(op, "a", a)
    _check_matrix(op, "b", b, a.dtype)
    a_summed, b_summed = _SUMMED_AXES[op]
    if a.shape[a_summed] != b.shape[b_summed]:
        raise ValueError(f"{op}: a of shape {a.shape} and b of shape {b.shape} do not fit")
    shape = (a.shape[1 - a_summed], b.shape[1 - b_summed])
    check_out(op, out, shape, a.dtype)
    return shape


def check_rows(op: str, z: np.ndarray, out: np.ndarray | None, **alike: np.ndarray) -> None:
    """An element-wise or row-wise operation's arguments: ``z`` a 2-D float array, every array of ``alike``
    (by its argument's name) and ``out`` of its shape and dtype."""
    _check_matrix(op, "the first argument", z)
    for name, x in alike.items():
        _check_matrix(op, name, x, z.dtype)
        _check_shape(op, name, x, z.shape)
    check_out(op, out, z.shape, z.dtype)


def check_bias(z: np.ndarray, b: np.ndarray, out: np.ndarray | None) -> None:
    """``add_bias``' arguments: ``b`` holds one value per column of ``z``."""
    _check_matrix("add_bias", "z", z)
    if not isinstance(b, np.ndarray) or b.dtype != z.dtype or b.shape != z.shape[1:]:
        got = f"{b.dtype} {b.shape}" if isinstance(b, np.ndarray) else type(b).__name__
        raise ValueError(f"add_bias: b must be {z.dtype} of shape {z.shape[1:]}, got {got}")
    check_out("add_bias", out, z.shape, z.dtype)


def check_column_sums(g: np.ndarray, out: np.ndarray | None) -> None:
    """``column_sums``' arguments: ``out`` holds one sum per column of ``g``."""
    _check_matrix("column_sums", "g", g)
    check_out("column_sums", out, g.shape[1:], g.dtype)


def check_labels(op: str, labels: np.ndarray, rows: int) -> None:
    """``labels`` is a 1-D integer array of one label per row; their range is the backend's to check."""
    if not isinstance(labels, np.ndarray) or labels.dtype.kind not in "iu":
        got = labels.dtype if isinstance(labels, np.ndarray) else type(labels).__name__
        raise ValueError(f"{op}: labels must be an integer array, got {got}")
    if labels.shape != (rows,):
        raise ValueError(f"{op}: labels must have shape ({rows},), one per row, got {labels.shape}")


def labels_outside(op: str, labels: np.ndarray, classes: int) -> ValueError:
    """The error for ``labels`` of which some lie outside ``0..classes-1``: it names the first of them."""
    outside = labels[(labels < 0) | (labels >= classes)]
    return ValueError(f"{op}: labels must be in 0..{classes - 1}, got {outside[0]} ({len(outside)} outside)")


def check_label_range(op: str, labels: np.ndarray, classes: int) -> None:
    """``labels`` in ``0..classes-1``, checked with a pass on the host before anything is written: for a
    backend whose own indexing would not catch one outside (NumPy counts a negative from the end, a jax
    gather clamps)."""
    if labels.min() < 0 or labels.max() >= classes:
        raise labels_outside(op, labels, classes)


def check_fused_step(
    activations: tuple[np.ndarray, ...],
    deltas: tuple[np.ndarray, ...],
    params: list[tuple[np.ndarray, np.ndarray]],
    bias_grads: list[np.ndarray],
    labels: np.ndarray,
) -> None:
    """``fused_step``'s arguments: the input fits the first layer, and every scratch buffer has the input's
    rows and its layer's width. The parameters are taken as they come: they define the
    widths."""
    op = "fused_step"
    X, first_weights = activations[0], params[0][0]
    _check_matrix(op, "the input", X, first_weights.dtype)
    if X.shape[1] != first_weights.shape[0]:
        raise ValueError(
            f"{op}: the input has {X.shape[1]} columns, the first layer takes {first_weights.shape[0]}"
        )
    if not len(activations) == len(deltas) == len(bias_grads) == len(params):
        raise ValueError(f"{op}: {len(params)} layers need as many activations, deltas and bias_grads")
    for layer, (W, _) in enumerate(params):
        shape = (X.shape[0], W.shape[1])
        if layer + 1 < len(params):
            _check_shape(op, f"activations[{layer + 1}]", activations[layer + 1], shape)
        _check_shape(op, f"deltas[{layer}]", deltas[layer], shape)
        _check_shape(op, f"bias_grads[{layer}]", bias_grads[layer], shape[1:])
    check_labels(op, labels, X.shape[0])
