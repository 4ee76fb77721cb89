"""Built-in synthetic STAD benchmark: labels knowable only from motion and context.

v1 (``generator``, ``scene``, ``video``) is the quickstart's data; v2
(``generator_v2``, ``v2``) is the benchmark of issue 19 (``--version 2``).
"""
from .generator import SyntheticConfig, dataset_ready, generate_synthetic, video_ids
from .generator_v2 import (
    SyntheticV2Config,
    dataset_ready_v2,
    flow_ready_v2,
    generate_synthetic_v2,
    video_ids_v2,
    write_flow_v2,
)
from .scene import CLASS_IDS, SYNTHETIC_CLASSES
from .v2 import (
    MOVEMENTS,
    SHORT_ACTIONS,
    V2_CLASS_IDS,
    V2_CLASSES,
    V2_GROUPS,
    SyntheticVideoV2,
    VideoConfigV2,
)
from .video import SyntheticVideo, VideoConfig

__all__ = ['SyntheticConfig', 'VideoConfig', 'SyntheticVideo', 'generate_synthetic',
           'dataset_ready', 'video_ids', 'SYNTHETIC_CLASSES', 'CLASS_IDS',
           'SyntheticV2Config', 'VideoConfigV2', 'SyntheticVideoV2',
           'generate_synthetic_v2', 'dataset_ready_v2', 'video_ids_v2', 'write_flow_v2',
           'flow_ready_v2', 'V2_CLASSES',
           'V2_CLASS_IDS', 'V2_GROUPS', 'SHORT_ACTIONS', 'MOVEMENTS']
