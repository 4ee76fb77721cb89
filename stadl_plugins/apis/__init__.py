"""High-level inference APIs used by the demo."""
