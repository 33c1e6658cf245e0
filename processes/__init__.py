"""Custom Lava processes of lava-nt (imported as ``lava_nt.processes``).

Each process lives in its own folder with ``process.py`` (Vars and Ports only) and ``models.py``
(floating_pt and fixed_pt ProcessModels). Lava discovers models by executing every ``.py`` file
of a process folder: keep scripts out of these folders and use absolute imports.
"""
