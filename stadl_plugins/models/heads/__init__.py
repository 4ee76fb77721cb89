"""Recognition heads (video-level classification)."""
from .videolstm_head import VideoLSTMHead

__all__ = ['VideoLSTMHead']
