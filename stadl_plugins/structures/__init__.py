"""Data structures shared by every layer (as MMAction2's ``structures/``).

``bbox``: box areas, IoU, matching and NMS; ``flow_pairs``: the frame pairs of
the two-stream flow model; ``flow_file``: the ground-truth flow file of a
synthetic video (two layouts, one reader); ``track``: :class:`Track`, one person (or tube) over
time, the track type of linking, the online tracker and the demo. Nothing here
imports from the rest of the package.
"""
from .bbox import box_area, greedy_match, nms, paired_iou, pairwise_iou, remaining_match
from .flow_file import FLOW_LAYOUTS, FlowFile, save_flows
from .flow_pairs import pair_indices
from .track import TRACK_KEYS, Track

__all__ = ['box_area', 'pairwise_iou', 'paired_iou', 'greedy_match',
           'remaining_match', 'nms', 'pair_indices', 'FlowFile', 'save_flows', 'FLOW_LAYOUTS', 'Track', 'TRACK_KEYS']
