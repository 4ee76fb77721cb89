"""stadl_plugins: spatio-temporal action detection plugins for MMAction2.

Importing this package (directly, or from a config through
``custom_imports=dict(imports=['stadl_plugins'], allow_failed_imports=False)``)

1. applies the runtime fixes of :mod:`stadl_plugins.compat` that the pinned
   OpenMMLab stack needs on today's torch/numpy,
2. imports ``mmaction.models`` and ``mmdet.models`` so that the stock STAD modules
   (``FastRCNN``, ``AVARoIHead``, ``BBoxHeadAVA``, ``SingleRoIExtractor3D``...) are
   registered, and
3. registers every plugin module of this package (see :mod:`stadl_plugins.registry`).
"""
from . import compat

compat.apply_all()

import mmaction.datasets  # noqa: E402,F401  stock datasets/transforms
import mmaction.evaluation  # noqa: E402,F401  stock metrics
import mmaction.models  # noqa: E402,F401  stock STAD heads (into mmdet registries)
import mmdet.models  # noqa: E402,F401  FastRCNN, samplers, assigners

from . import (  # noqa: E402,F401  every plugin registers on import
    apis,
    datasets,
    engine,
    evaluation,
    localization,
    models,
    tracking,
    visualization,
)
from .version import __version__  # noqa: E402

__all__ = ['__version__', 'compat']
