"""Built-in synthetic STAD benchmark: labels knowable only from motion and context."""
from .generator import (SyntheticConfig, dataset_ready, generate_synthetic,
                        video_ids)
from .scene import CLASS_IDS, SYNTHETIC_CLASSES
from .video import SyntheticVideo, VideoConfig

__all__ = ['SyntheticConfig', 'VideoConfig', 'SyntheticVideo', 'generate_synthetic',
           'dataset_ready', 'video_ids', 'SYNTHETIC_CLASSES', 'CLASS_IDS']
