"""Training and evaluation of claim scorers on benchmark data sets (``kgreason-train``, ``kgreason-eval``)."""
