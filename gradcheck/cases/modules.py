"""`module:` cases: a torch.nn.Module or a Keras layer, built under the case seed, its parameters
as named inputs.

The module is called functionally, so the parameters are ordinary inputs every method can
differentiate and perturb:  torch.func.functional_call(module, {name: tensor}, args)  and
Keras 3's  layer.stateless_call(trainable_values, non_trainable_values, *args).
Each dtype gets its own instance, built under the same seed (the float64 reference and a
float32 backend need different layers; their parameter values come from the leaves).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from gradcheck.cases.generators import stable_seed
from gradcheck.cases.schema import Case


class BuiltModule:
    """A module class and its constructor keywords, instantiated per dtype under one seed."""

    def __init__(self, case: Case, cls: Callable, sample: Sequence[Any], sample_kwargs: dict):
        self.case, self.cls, self.framework = case, cls, case.framework
        # Within 2**32: keras.utils.set_random_seed hands it to numpy.random.seed.
        self.seed = case.rng_seed if case.rng_seed is not None else stable_seed(case.name, "module") % 2**32
        self.sample, self.sample_kwargs = list(sample), sample_kwargs
        self._instances: dict[str, Any] = {}
        self.names, self.values = self._parameters(self.instance(case.dtype))

    def instance(self, dtype: str):
        if dtype not in self._instances:
            build = _build_torch if self.framework == "torch" else _build_keras
            self._instances[dtype] = build(self, dtype)
        return self._instances[dtype]

    def _parameters(self, instance) -> tuple[tuple[str, ...], tuple[np.ndarray, ...]]:
        if self.framework == "torch":
            named = [(name, p.detach().cpu().double().numpy()) for name, p in instance.named_parameters()]
        else:  # Keras: `dense/kernel` -> `kernel`: the layer's own name is not part of its state
            named = [(".".join(v.path.split("/")[1:]) or v.path, np.asarray(v.numpy(), dtype=np.float64))
                     for v in instance.trainable_variables]
        return tuple(n for n, _ in named), tuple(v for _, v in named)

    def function(self, framework_module) -> Callable:
        """call(parameters by name, *args, **kwargs) with the instance of the parameters' dtype."""
        if self.framework == "torch":
            def call_torch(parameters, *args, **kwargs):
                dtype = str(next(iter(parameters.values())).dtype).removeprefix("torch.")
                module = self.instance(dtype)
                return framework_module.func.functional_call(module, parameters, tuple(args), kwargs)
            return call_torch

        def call_keras(parameters, *args, **kwargs):
            values = list(parameters.values())
            layer = self.instance(values[0].dtype.name)
            fixed = [v.value for v in layer.non_trainable_variables]
            output, _ = layer.stateless_call(values, fixed, *args, **kwargs)
            return output
        return call_keras


def _build_torch(module: BuiltModule, dtype: str):
    import torch

    with torch.random.fork_rng():  # the user's global RNG state is left as it was
        torch.manual_seed(module.seed)
        instance = module.cls(**module.case.init)
    return instance.to(dtype=getattr(torch, dtype))


def _build_keras(module: BuiltModule, dtype: str):
    import keras

    keras.utils.set_random_seed(module.seed)
    layer = module.cls(**module.case.init, dtype=dtype)
    layer(*[_cast(a, dtype) for a in module.sample], **module.sample_kwargs)  # build its weights
    return layer


def _cast(array: Any, dtype: str) -> Any:
    return array.astype(dtype) if isinstance(array, np.ndarray) and np.issubdtype(array.dtype, np.floating) else array
