"""Necks between a backbone and the stock AVA RoI head."""
