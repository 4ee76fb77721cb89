"""Runner hooks and engine helpers."""
