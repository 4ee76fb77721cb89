"""High-level inference APIs used by the demo: STAD on raw video files."""
from .inference import (
    KeyframeDetections,
    STADInferencer,
    VideoDetections,
    VideoFrames,
    VideoInfo,
    VideoReadError,
    detect_video,
    open_video,
)
from .person_detectors import (
    HOGPersonDetector,
    IoUTracker,
    MMDetPersonDetector,
    PersonDetectorError,
    ProposalFilePersonDetector,
    box_iou,
    build_person_detector,
    nms_boxes,
)

__all__ = ['STADInferencer', 'detect_video', 'open_video', 'VideoFrames',
           'VideoInfo', 'VideoReadError', 'KeyframeDetections', 'VideoDetections',
           'HOGPersonDetector', 'MMDetPersonDetector', 'ProposalFilePersonDetector',
           'PersonDetectorError', 'IoUTracker', 'box_iou', 'build_person_detector',
           'nms_boxes']
