"""Rollout: G candidates per study from a vLLM or HF engine, behind one interface, on Ray actors.

`engine.make_engine` builds an engine from the config; `actor.RolloutActor` wraps one engine;
`pool.RolloutPool` spreads studies over N actors; `logprobs` is the learner-side recomputation.
"""
