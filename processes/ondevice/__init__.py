"""Lava processes of on-device tuning: a learning NTLIF layer and the output-error process."""
