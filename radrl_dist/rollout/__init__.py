"""Rollout: G candidates per study from a vLLM or HF engine, behind one interface, on Ray actors.

`engines.make_engine` builds an engine from the config; `actor.RolloutActor` wraps one engine;
`pool.RolloutPool` spreads studies over N actors (log-probs are recomputed by radrl_dist.learner.logprobs).
"""
