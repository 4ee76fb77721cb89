"""Benchmark v2 stages (issue 19): pretraining, feature cache, manifests.

Imported on demand (``stadl_plugins.benchmark.pretrain`` / ``.feature_cache``), not
by ``import stadl_plugins``.
"""
