"""The finite-difference reference: stencils and step control, batched evaluation, proved groups of
elements, tied kinks, complex step, and the directional (forward-mode and fast-mode) references.

Only NumPy arrays and plain callables come in; nothing here knows about cases, backends or reports.
"""
