"""Constants of the Lava graphs: precisions, the run chunk, the graded-spike payload."""

PRECISIONS = ("float", "fixed")
#: Steps per ``run()`` call; the Extractor buffers hold one chunk.
CHUNK_STEPS = 2048
#: Graded-spike payload bits of a Dense fed by graded input.
GRADED_MESSAGE_BITS = 24
