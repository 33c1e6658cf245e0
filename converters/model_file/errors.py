"""The errors of model-file reading and writing."""

from __future__ import annotations


class ModelFileError(ValueError):
    """A model file is missing, unreadable, corrupt, of another schema version or inconsistent.

    ``path`` is the file; the message names the file and what is wrong."""

    def __init__(self, path, message: str):
        self.path = str(path)
        super().__init__(f"model file '{path}': {message}")


class ModelFileExistsError(ModelFileError, FileExistsError):
    """The target file exists and ``overwrite`` was not given."""
