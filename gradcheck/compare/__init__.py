"""Reference + analytic gradient -> Comparison: the tolerance rule applied, diagnosis, fast-mode verdicts."""
