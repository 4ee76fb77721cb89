"""Recognition heads (video-level classification)."""
