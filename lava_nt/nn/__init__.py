"""Norse/torch modules of lava-nt: NTLIF and spiking-bias cells with surrogate gradients, and the
torch emulator of the fixed-point models."""
