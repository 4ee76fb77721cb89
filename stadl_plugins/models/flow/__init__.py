"""Optical flow: correlation, warping, PWC-Net and weight converters (PWC-Net / Zhang et al. PR 2020)."""
