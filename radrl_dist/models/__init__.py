"""Models: tiny random-initialised builders (no hub), loading of local checkpoints, and prompt encoding
(prompt_encoding.py, prompt_inputs.py: the inputs engine, learner and SFT all share)."""
