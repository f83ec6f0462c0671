"""Case dtype names -> NumPy dtypes, and the rules for complex values. bfloat16 comes from ml_dtypes
(the `bfloat16` extra; jax and tensorflow ship it too).

Complex dtypes (complex64, complex128) pair with the real dtype of their parts (float32, float64).
A complex value is never cast to real: NumPy would drop its imaginary part with only a
ComplexWarning, so every conversion to float64 here keeps complex arrays complex (complex128).
"""

from __future__ import annotations

import numpy as np

COMPLEX_DTYPES = ("complex64", "complex128")
REAL_PART = {"complex64": "float32", "complex128": "float64"}  # the dtype of each part
NEVER_CAST = "a complex value is never cast to real (that would drop its imaginary part)"


def is_complex_dtype(name: str) -> bool:
    return name in COMPLEX_DTYPES


def real_dtype(name: str) -> str:
    """The real dtype of a case dtype's parts: float32 for complex64, the name itself for a real dtype."""
    return REAL_PART.get(name, name)


def complex_dtype(name: str) -> str:
    """The complex dtype whose parts are `name` (float32 -> complex64; float64, float16, bfloat16 ->
    complex128, NumPy having no narrower complex type)."""
    if name in COMPLEX_DTYPES:
        return name
    return "complex64" if name == "float32" else "complex128"


def overridden(case_dtype: str, override: str | None) -> str:
    """The dtype a case runs in under --dtype: the override sets the precision, and a complex case
    stays complex (--dtype float32 runs a complex128 case as complex64). A real override without
    a complex type of its width (float16, bfloat16) is taken as it is, and a complex case then
    says it cannot be real."""
    if override is None:
        return case_dtype
    if is_complex_dtype(case_dtype) and not is_complex_dtype(override):
        return {"float32": "complex64", "float64": "complex128"}.get(override, override)
    return override


def is_inexact(array) -> bool:
    """Floating or complex: the arrays that are differentiated."""
    return np.issubdtype(np.asarray(array).dtype, np.inexact)


def as_float64(array) -> np.ndarray:
    """`array` in double precision: complex128 when it is complex, float64 otherwise (never a cast to real)."""
    array = np.asarray(array)
    return array.astype(np.complex128 if np.iscomplexobj(array) else np.float64, copy=False)


def refuse_complex(value, what: str, why: str = "") -> None:
    """TypeError when `value` is complex where only real values make sense; `why` says what needs them."""
    dtype = getattr(value, "dtype", None)  # framework tensors are judged by their dtype's name, never converted
    if isinstance(dtype, np.dtype):
        complex_value = dtype.kind == "c"  # str() of a NumPy dtype costs 10 us, a check of every gradient
    else:
        complex_value = ("complex" in str(dtype)) if dtype is not None else np.iscomplexobj(value)
    if complex_value:
        shown = f" ({dtype})" if dtype is not None else ""
        raise TypeError(f"{what} is complex{shown}{': ' + why if why else ''}; {NEVER_CAST}")


def numpy_dtype(name: str) -> np.dtype:
    """The NumPy dtype of a case dtype name; ImportError naming the extra where one is missing."""
    if name == "bfloat16":
        try:
            import ml_dtypes
        except ImportError:
            raise ImportError("bfloat16 needs the ml_dtypes package (pip install 'gradcheck[bfloat16]')") from None
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)
