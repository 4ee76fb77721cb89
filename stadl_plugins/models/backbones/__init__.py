"""Backbones: Inception-I3D, flow two-stream wrapper."""
