"""Visualization: flow, attention maps, tubes, score curves, AP charts, training curves."""
