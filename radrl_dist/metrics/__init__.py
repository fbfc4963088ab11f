"""Evaluation metrics as pure functions: NLG (pycocoevalcap-exact), clinical efficacy under named
conventions, grounding, behaviour, and bootstrap/paired statistics."""
