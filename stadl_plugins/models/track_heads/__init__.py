"""Track-level heads (RecLNet)."""
