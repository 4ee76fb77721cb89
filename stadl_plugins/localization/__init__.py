"""Temporal and attention-map localization (track scores -> segments, saliency -> boxes)."""
