"""Model plugins, one role per subpackage, as MMAction2 1.x lays them out:
``backbones/``, ``necks/``, ``roi_heads/shared_heads/``, ``heads/``,
``detectors/`` (whole STAD detectors), ``localizers/`` (whole track models),
``track_heads/``; building blocks in ``flow/`` and ``recurrent/``.
"""
from . import (  # noqa: F401  importing registers every model plugin
    backbones,
    detectors,
    flow,
    heads,
    localizers,
    necks,
    recurrent,
    roi_heads,
    track_heads,
)
