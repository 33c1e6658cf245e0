"""Converters (imported as ``lava_nt.converters``): trained models <-> Lava process graphs,
fixed point, model files."""
