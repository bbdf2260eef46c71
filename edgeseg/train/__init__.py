"""Training loop, losses, metrics and checkpoints."""
