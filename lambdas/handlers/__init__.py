"""Thin Lambda entry points: each wires :mod:`vitrine.wiring` services to one event source."""
