"""Compatibility shims for the CPU install (see README, 'Install')."""
