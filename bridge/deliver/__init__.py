"""Deliver stage: paced, bounded, classified HTTP calls to Braze."""
