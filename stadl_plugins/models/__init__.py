"""Model plugins, one role per subpackage, as MMAction2 1.x lays them out:
``backbones/``, ``necks/``, ``roi_heads/shared_heads/``, ``heads/``,
``detectors/`` (whole STAD detectors), ``localizers/`` (whole track models),
``track_heads/``; building blocks in ``flow/`` and ``recurrent/``.
"""
from . import flow, recurrent  # noqa: F401  building blocks first
from . import backbones, heads, necks, roi_heads, track_heads  # noqa: F401
from . import detectors, localizers  # noqa: F401
