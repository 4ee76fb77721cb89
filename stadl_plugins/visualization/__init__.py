"""Visualization: flow, attention maps, tubes, score curves, AP charts, training curves.

Images are written as PNGs of known pixel size: frame grids with OpenCV/numpy,
charts with matplotlib's Agg backend (no display needed). Command line:
``python tools/analysis/visualize.py {flow,attention,tubes,scores,ap,curves} ...``.
"""
from .attention import overlay_maps, save_attention_grid
from .boxes import draw_banner, draw_person_boxes, track_color
from .detection_hook import STADVisualizationHook
from .flow import color_wheel, flow_to_color, flow_wheel_legend, write_flow_png
from .image_grid import tile, write_png
from .plots import (
    find_scalar_logs,
    load_scalars,
    plot_ap_bars,
    plot_pr_curves,
    plot_score_curves,
    plot_training_curves,
    true_segments,
)
from .tubes import draw_tubes, save_tube_strip

__all__ = ['flow_to_color', 'color_wheel', 'flow_wheel_legend', 'write_flow_png',
           'overlay_maps', 'save_attention_grid', 'draw_tubes', 'save_tube_strip',
           'draw_person_boxes', 'draw_banner', 'track_color', 'tile', 'write_png',
           'plot_score_curves', 'plot_ap_bars', 'plot_pr_curves',
           'plot_training_curves', 'load_scalars', 'find_scalar_logs',
           'true_segments', 'STADVisualizationHook']
