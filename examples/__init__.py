"""Examples of lava-nt (installed as ``lava_nt.examples``); each uses the public API only."""
