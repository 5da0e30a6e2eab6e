"""Errors that name the offending item; a run records them as the item's failure reason."""


class EvalkitError(Exception):
    """Base class: the message is one line a user can act on."""


class VideoReadError(EvalkitError):
    pass


class InvalidInputError(EvalkitError):
    """Wrong frame count, empty mask, mismatched sizes, a one-frame video, ..."""


class ManifestError(EvalkitError):
    pass


class MissingWeightsError(EvalkitError):
    pass


class MissingDependencyError(EvalkitError):
    pass


class MissingDataError(VideoReadError):
    """A data file or folder that is not there (an unmounted disk, a wrong --root): an
    environment problem, not a property of the item, so a run retries it next time."""


class MemoryLimitError(EvalkitError, MemoryError):
    """An allocation over the stated memory limit, refused before it is tried (an environment
    problem: a machine with more memory, or a smaller input, will do)."""
