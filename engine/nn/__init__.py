"""Layers (engine.nn). `functional` holds the stateless ops layers are built from."""
from engine.nn import functional
