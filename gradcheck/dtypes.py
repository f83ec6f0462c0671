"""Case dtype names -> NumPy dtypes. bfloat16 comes from ml_dtypes (the `bfloat16` extra;
jax and tensorflow ship it too)."""

from __future__ import annotations

import numpy as np


def numpy_dtype(name: str) -> np.dtype:
    """The NumPy dtype of a case dtype name; ImportError naming the extra where one is missing."""
    if name == "bfloat16":
        try:
            import ml_dtypes
        except ImportError:
            raise ImportError("bfloat16 needs the ml_dtypes package (pip install 'gradcheck[bfloat16]')") from None
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)
