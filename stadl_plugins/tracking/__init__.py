"""Person tracks: linking per-frame detections into tracks."""
