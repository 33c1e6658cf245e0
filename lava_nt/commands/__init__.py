"""Subcommands of the ``lava-nt`` CLI, one module per group (each defines ``register``)."""
