"""Case dtype names -> NumPy dtypes. bfloat16 comes from ml_dtypes (the `bfloat16` extra;
jax and tensorflow ship it too)."""

from __future__ import annotations

import numpy as np

COMPLEX_UNSUPPORTED = ("complex dtypes are not supported yet, and a complex value is never cast to real "
                       "(that would drop its imaginary part)")


def refuse_complex(value, what: str) -> None:
    """TypeError when `value` is complex: NumPy would cast it to real with only a ComplexWarning."""
    dtype = getattr(value, "dtype", None)  # framework tensors are judged by their dtype's name, never converted
    if ("complex" in str(dtype)) if dtype is not None else np.iscomplexobj(value):
        shown = f" ({dtype})" if dtype is not None else ""
        raise TypeError(f"{what} is complex{shown}: {COMPLEX_UNSUPPORTED}")


def numpy_dtype(name: str) -> np.dtype:
    """The NumPy dtype of a case dtype name; ImportError naming the extra where one is missing."""
    if name == "bfloat16":
        try:
            import ml_dtypes
        except ImportError:
            raise ImportError("bfloat16 needs the ml_dtypes package (pip install 'gradcheck[bfloat16]')") from None
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)
