"""Data structures shared by every layer (as MMAction2's ``structures/``).

``bbox``: box areas, IoU, matching and NMS. Nothing here imports from the rest of
the package.
"""
from .bbox import (box_area, greedy_match, nms, paired_iou, pairwise_iou,
                   remaining_match)

__all__ = ['box_area', 'pairwise_iou', 'paired_iou', 'greedy_match',
           'remaining_match', 'nms']
