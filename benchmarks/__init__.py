"""Benchmarks kept outside the library: the plain-PyTorch yardstick model of
``strae bench`` (:mod:`benchmarks.plain_model`) and the Self-StrAE speed script
(``python -m benchmarks.self_strae_speed``)."""
