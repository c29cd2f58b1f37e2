"""The backends the performance study gives a role, each named here and nowhere else in bench/ or reports/.

Everything the study does to every backend takes the backends from the registry (``kernels``): a backend
added there is timed, tabled and drawn without an edit to bench/ or reports/. A few of the study's claims
are about one backend's part in it, not about every backend: its targets set the backend that compiles its
own loops against the one whose products are BLAS's, and its budgets split the compiled backend's fused
step into the parts its own kernels run. Those claims name a role; this table says which backend plays it.
"""

from __future__ import annotations

# the backend with its own compiled products and a fused training step: the study's subject, whose
# targets, step budgets, fused-step technique and matmul variants are its own
COMPILED = "numba"
# the backend whose products are the BLAS library's: the yardstick the compiled backend is held to
BLAS = "numpy"
# the interpreted backend: the baseline every speed-up the reader sees first is over
LOOPS = "loops"
# the backend whose vectorised form a compiler fuses and compiles (XLA): what a practitioner would pick
# instead of hand-written compiled loops, set against them at a few batch sizes and in the cost of a call
ARRAY_COMPILER = "jax"
# not backends of the registry: the references from outside the project, timed beside the backends;
# PyTorch eager, and the same PyTorch code compiled by torch.compile (inductor), its compile timed apart
PEER = "pytorch"
PEER_COMPILED = "pytorch_compiled"
PEERS = (PEER, PEER_COMPILED)
