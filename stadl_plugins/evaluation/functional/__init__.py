"""Numpy evaluators: AVA frame-AP, ACT frame-AP, tube linking and video-AP."""
from ...structures.bbox import greedy_match, pairwise_iou, remaining_match
from .act_frame_ap import PROTOCOLS, act_frame_ap, split_videos
from .ava_frame_ap import AVA_GROUPS, ava_frame_ap, csv_round
from .average_precision import act_average_precision, average_precision, precision_recall
from .tube_linking import link_tubes, link_video, moc_score_weights, moc_weighted_nms, nms
from .video_ap import VIDEO_IOU_THRS, act_tube_nms, tube_iou, tube_nms, video_ap, video_map

__all__ = ['PROTOCOLS', 'act_frame_ap', 'split_videos', 'act_average_precision',
           'average_precision', 'precision_recall', 'remaining_match',
           'moc_score_weights', 'moc_weighted_nms', 'tube_nms', 'act_tube_nms',
           'AVA_GROUPS', 'ava_frame_ap', 'csv_round', 'greedy_match', 'pairwise_iou',
           'link_tubes', 'link_video', 'nms', 'VIDEO_IOU_THRS', 'tube_iou',
           'video_ap', 'video_map']
