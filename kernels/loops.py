"""The ``loops`` backend: the maths as it reads on paper, in plain Python loops over Python floats.

This is the honest baseline of what the arithmetic costs when every multiply-add goes through the
interpreter. Arrays are turned into nested lists (``tolist``) on the way in and back into arrays of the
input's dtype on the way out; in between there is no NumPy. Python floats are doubles, so in float32
this backend computes in double and rounds once when it stores the result.
"""

from __future__ import annotations

import math

import numpy as np

from kernels.arguments import (
    check_bias,
    check_column_sums,
    check_labels,
    check_rows,
    labels_outside,
    product_shape,
)

name = "loops"
full_size = False  # every multiply-add in the interpreter: the study times it on a subset


def _store(rows: list, like: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """Hand a list (of rows) back as an array of ``like``'s dtype, in ``out`` if given."""
    if out is None:
        return np.array(rows, dtype=like.dtype)
    out[...] = rows
    return out


def _row_dots(rows: list, cols: list) -> list:
    """``C[i][j] = sum_p rows[i][p] * cols[j][p]``: the one loop nest behind all three products."""
    result = []
    for r in rows:
        c_row = []
        for c in cols:
            s = 0.0
            for x, y in zip(r, c):
                s += x * y
            c_row.append(s)
        result.append(c_row)
    return result


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    product_shape("matmul", a, b, out)
    return _store(_row_dots(a.tolist(), b.T.tolist()), a, out)


def matmul_tn(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    product_shape("matmul_tn", a, b, out)
    return _store(_row_dots(a.T.tolist(), b.T.tolist()), a, out)


def matmul_nt(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    product_shape("matmul_nt", a, b, out)
    return _store(_row_dots(a.tolist(), b.tolist()), a, out)


def add_bias(z: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    check_bias(z, b, out)
    bias = b.tolist()
    return _store([[x + bj for x, bj in zip(row, bias)] for row in z.tolist()], z, out)


def relu(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    check_rows("relu", z, out)
    # written as "0 if x < 0" (not "x if x > 0") so that NaN passes through
    return _store([[0.0 if x < 0.0 else x for x in row] for row in z.tolist()], z, out)


def relu_backward(grad: np.ndarray, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    check_rows("relu_backward", grad, out, a=a)
    rows = [
        [g if x > 0.0 else 0.0 for g, x in zip(g_row, a_row)]
        for g_row, a_row in zip(grad.tolist(), a.tolist())
    ]
    return _store(rows, grad, out)


def _row_max(row: list) -> float:
    largest = row[0]
    for x in row:
        if x > largest or x != x:  # x != x: NaN wins, as in NumPy
            largest = x
    return largest


def softmax(logits: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    check_rows("softmax", logits, out)
    rows = []
    for row in logits.tolist():
        largest = _row_max(row)
        exps = [math.exp(x - largest) for x in row]
        total = 0.0
        for e in exps:
            total += e
        rows.append([e / total for e in exps])
    return _store(rows, logits, out)


def softmax_xent(
    logits: np.ndarray, labels: np.ndarray, out: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    check_rows("softmax_xent", logits, out)
    check_labels("softmax_xent", labels, len(logits))
    classes = logits.shape[1]
    # checked before anything is written: a Python list would take a negative label as counting from the end
    if not all(0 <= label < classes for label in labels.tolist()):
        raise labels_outside("softmax_xent", labels, classes)
    batch = len(labels)
    total_loss = 0.0
    rows = []
    for row, label in zip(logits.tolist(), labels.tolist()):
        largest = _row_max(row)
        exps = [math.exp(x - largest) for x in row]
        total = 0.0
        for e in exps:
            total += e
        total_loss += math.log(total) - (row[label] - largest)  # max first: large logits stay exact
        rows.append([(e / total - (1.0 if j == label else 0.0)) / batch for j, e in enumerate(exps)])
    return _store(rows, logits, out), total_loss / batch


def column_sums(g: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    check_column_sums(g, out)
    rows = g.tolist()
    sums = [0.0] * g.shape[1]
    for row in rows:
        for j, x in enumerate(row):
            sums[j] += x
    return _store(sums, g, out)
