"""Numpy evaluators: AVA frame-AP, ACT frame-AP, tube linking and video-AP."""
from .act_frame_ap import act_frame_ap, split_videos
from .average_precision import average_precision, precision_recall
from .ava_frame_ap import AVA_GROUPS, ava_frame_ap, csv_round
from .boxes import greedy_match, pairwise_iou
from .tube_linking import link_tubes, link_video, nms
from .video_ap import VIDEO_IOU_THRS, tube_iou, video_ap, video_map

__all__ = ['act_frame_ap', 'split_videos', 'average_precision', 'precision_recall',
           'AVA_GROUPS', 'ava_frame_ap', 'csv_round', 'greedy_match', 'pairwise_iou',
           'link_tubes', 'link_video', 'nms', 'VIDEO_IOU_THRS', 'tube_iou',
           'video_ap', 'video_map']
