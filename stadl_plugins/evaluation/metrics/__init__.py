"""Registered metrics (``val_evaluator`` / ``test_evaluator``)."""
from .ava_frame_ap_metric import AVAFrameAPMetric
from .track_frame_accuracy import TrackFrameAccuracy  # noqa: F401  RecLNet per-frame accuracy
from .video_map_metric import VideoMAPMetric

__all__ = ['AVAFrameAPMetric', 'VideoMAPMetric']
