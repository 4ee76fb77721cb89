"""Registered metrics (``val_evaluator`` / ``test_evaluator``)."""
from .ava_frame_ap_metric import AVAFrameAPMetric
from .video_map_metric import VideoMAPMetric
from .track_frame_accuracy import TrackFrameAccuracy  # noqa: F401  RecLNet per-frame accuracy

__all__ = ['AVAFrameAPMetric', 'VideoMAPMetric']
