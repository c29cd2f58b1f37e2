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
# not a backend of the registry: the one reference from outside the project, timed beside the backends
PEER = "pytorch"
