"""The one exception family for checkpoints, so the app can catch `CheckpointError` and show its message.

Every message names the file (or the registry name) that is wrong and, where it can, what to do.
`CheckpointError` is a `ValueError`: a bad checkpoint is bad input, not a crash.
"""


class CheckpointError(ValueError):
    """A checkpoint could not be read or does not hold a generator we can build."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The path does not exist and is not a registry name."""


class CheckpointFormatError(CheckpointError):
    """The file is truncated, corrupt, of an unknown format, or lacks the generator's weights."""


class UnsafeCheckpointError(CheckpointError):
    """The pickle asks for a global outside the allow-list (it would run code if loaded naively)."""


class ModelNotAvailableError(CheckpointError):
    """A registry model is neither on disk nor downloadable (offline, no network, or not converted)."""
