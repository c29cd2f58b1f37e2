"""What a pixel is worth to the network: a uint8 in 0..255, scaled to [0, 1] in the network's dtype.

The data sets stay uint8 in memory (a quarter of float32's bytes, an eighth of float64's); each batch is
scaled as it is gathered (``kernels.interface.RowGather``), and every scaling goes through the arithmetic
stated here, so that a pixel means the same number whichever backend or code path reads it.
"""

from __future__ import annotations

import numpy as np

PIXEL_DTYPE = np.dtype(np.uint8)
PIXEL_MAX = 255


def scale_pixels(pixels: np.ndarray, dtype: np.dtype, out: np.ndarray | None = None) -> np.ndarray:
    """``pixels / 255`` computed in ``dtype`` (float32 or float64): each pixel converted to ``dtype``
    (exactly) and divided by 255 with one rounding, into ``out`` if given (of ``pixels``' shape and
    ``dtype``)."""
    # Division rather than multiplication by 1/255: it is correctly rounded, so 255 maps to exactly 1.0 and
    # a compiled loop dividing in the same dtype (numba's gather) gives the same bits.
    return np.divide(pixels, dtype.type(PIXEL_MAX), out=out, dtype=dtype)
