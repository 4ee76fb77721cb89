"""The ACT box convention switch; the box functions are in :mod:`stadl_plugins.structures.bbox`.

``protocol='act'`` reads :data:`ACT_PLUS_ONE` at call time, so the rule-by-rule
tests can switch the ``+1`` pixel convention off to show that it matters. The
names below are re-exported for code that imported them from here.
"""
from ...structures.bbox import box_area, greedy_match, paired_iou, pairwise_iou, remaining_match  # noqa: F401

#: the ACT evaluator's convention: inclusive-pixel areas and intersections
ACT_PLUS_ONE = True
