"""Optimizers and the learning-rate schedule.

Updates are in place and allocation-free (``out=`` everywhere, one scratch buffer per parameter), so
that an optimizer step costs two or three passes over the weights and nothing else. They are NumPy
for every backend: an update is O(parameters) per step against the backends' O(batch x parameters),
and keeping it common means the backends are compared on the network's maths alone.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from kernels.interface import FusedUpdate
from network import aligned

OPTIMIZERS = ("sgd", "momentum", "adam")


def cosine_lr(base_lr: float, step: int, total_steps: int, warmup_steps: int = 0) -> float:
    """Linear warm-up to ``base_lr``, then half a cosine down to zero at ``total_steps``."""
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


class Optimizer:
    """Base class: holds the parameters and a scratch buffer per parameter; subclasses add state."""

    name = ""

    def __init__(self, params: list[tuple[np.ndarray, np.ndarray]], weight_decay: float = 0.0):
        self.params = [p for pair in params for p in pair]
        self.weight_decay = weight_decay
        self._scratch = [aligned.empty_like(p) for p in self.params]

    def step(self, grads: list[tuple[np.ndarray, np.ndarray]], lr: float) -> None:
        """Update every parameter in place from ``grads`` (same structure as the params).

        With weight decay, ``weight_decay * W`` is first added to each weight's gradient (the gradient
        of an L2 penalty ``weight_decay / 2 * ||W||^2``; biases are not decayed). ``grads`` are scratch:
        they may be modified.
        """
        for i, (param, grad) in enumerate(zip(self.params, (g for pair in grads for g in pair))):
            if self.weight_decay and param.ndim == 2:
                grad += np.multiply(param, param.dtype.type(self.weight_decay), out=self._scratch[i])
            self._update(i, param, grad, param.dtype.type(lr))

    def _update(self, i: int, param: np.ndarray, grad: np.ndarray, lr: np.floating) -> None:
        raise NotImplementedError

    def fused_update(self, lr: float) -> FusedUpdate:
        """The next step as one of ``kernels.interface.UPDATE_RULES`` (the rule named like the optimizer),
        for a backend that applies it inside its kernels; :meth:`fused_step_done` follows once the backend
        has applied it."""
        return FusedUpdate(self.name, self._fused_state, {"lr": lr, "weight_decay": self.weight_decay})

    @functools.cached_property
    def _fused_state(self) -> list[tuple[np.ndarray, ...]]:
        """The rule's state arrays per parameter: made once, the same list every step (the state arrays
        are updated in place, never replaced), so that a backend can keep what it derives from it."""
        return self._states()

    def _states(self) -> list[tuple[np.ndarray, ...]]:
        return [() for _ in self.params]

    def fused_step_done(self) -> None:
        """Count a step that a backend applied from :meth:`fused_update`."""

    def state(self) -> dict[str, np.ndarray]:
        """The optimizer's state as named arrays, for a checkpoint."""
        return {}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        for key, value in self.state().items():
            if key not in state or state[key].shape != value.shape:
                raise ValueError(f"optimizer state {key!r} is missing or has the wrong shape")
            value[...] = state[key]


class SGD(Optimizer):
    """Plain stochastic gradient descent: ``w -= lr * g``."""

    name = "sgd"

    def _update(self, i, param, grad, lr):
        step = np.multiply(grad, lr, out=self._scratch[i])
        param -= step


class Momentum(Optimizer):
    """Heavy-ball momentum as PyTorch defines it: ``v = mu * v + g; w -= lr * v``."""

    name = "momentum"

    def __init__(self, params, weight_decay: float = 0.0, momentum: float = 0.9):
        super().__init__(params, weight_decay)
        self.momentum = momentum
        self.velocity = [aligned.zeros_like(p) for p in self.params]

    def fused_update(self, lr):
        update = super().fused_update(lr)
        update.coefficients["momentum"] = self.momentum
        return update

    def _states(self):
        return [(v,) for v in self.velocity]

    def _update(self, i, param, grad, lr):
        v = self.velocity[i]
        v *= param.dtype.type(self.momentum)
        v += grad
        param -= np.multiply(v, lr, out=self._scratch[i])

    def state(self):
        return {f"velocity_{i}": v for i, v in enumerate(self.velocity)}


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015), bias correction folded into the step size as in their section 2."""

    name = "adam"

    def __init__(
        self, params, weight_decay: float = 0.0, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ):
        super().__init__(params, weight_decay)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m = [aligned.zeros_like(p) for p in self.params]
        self.v = [aligned.zeros_like(p) for p in self.params]
        self.t = np.zeros(1, np.int64)  # an array so that it travels with the rest of the state

    def _corrected_lr(self, lr: float) -> float:
        """The step size of the next step, both bias corrections folded in: lr sqrt(1 - b2^t) / (1 - b1^t)."""
        t = int(self.t[0]) + 1
        return lr * math.sqrt(1 - self.beta2**t) / (1 - self.beta1**t)

    def step(self, grads, lr):
        super().step(grads, self._corrected_lr(lr))
        self.t[0] += 1

    def fused_update(self, lr):
        update = super().fused_update(self._corrected_lr(lr))
        update.coefficients.update(beta1=self.beta1, beta2=self.beta2, eps=self.eps)
        return update

    def _states(self):
        return list(zip(self.m, self.v))

    def fused_step_done(self):
        self.t[0] += 1  # an element, not the array: an in-place ufunc would add its call overhead to a step

    def _update(self, i, param, grad, lr):
        dt = param.dtype.type
        m, v, scratch = self.m[i], self.v[i], self._scratch[i]
        m *= dt(self.beta1)
        m += np.multiply(grad, dt(1 - self.beta1), out=scratch)
        v *= dt(self.beta2)
        np.multiply(grad, grad, out=scratch)
        scratch *= dt(1 - self.beta2)
        v += scratch
        np.sqrt(v, out=scratch)
        scratch += dt(self.eps)
        np.divide(m, scratch, out=scratch)
        scratch *= lr
        param -= scratch

    def state(self):
        moments = {f"m_{i}": m for i, m in enumerate(self.m)} | {f"v_{i}": v for i, v in enumerate(self.v)}
        return {"t": self.t, **moments}


def make_optimizer(
    name: str, params: list[tuple[np.ndarray, np.ndarray]], weight_decay: float = 0.0
) -> Optimizer:
    """The optimizer called ``name`` (one of ``OPTIMIZERS``) over ``params``."""
    classes = {cls.name: cls for cls in (SGD, Momentum, Adam)}
    if name not in classes:
        raise ValueError(f"unknown optimizer {name!r}: choose one of {', '.join(OPTIMIZERS)}")
    return classes[name](params, weight_decay)
