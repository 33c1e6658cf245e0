"""Running Lava safely: every run ends in stop(), has a timeout and leaves no worker processes."""
