"""Registered metrics (``val_evaluator`` / ``test_evaluator``)."""
from .ava_frame_ap_metric import AVAFrameAPMetric
from .video_map_metric import VideoMAPMetric

__all__ = ['AVAFrameAPMetric', 'VideoMAPMetric']
