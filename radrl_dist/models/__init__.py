"""Models: tiny random-initialised builders (no hub) and loading of local checkpoints."""
