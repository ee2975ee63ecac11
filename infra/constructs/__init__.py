"""Constructs for the shapes Vitrine repeats, one per file."""
