"""Exceptions with messages meant for users: each names the bad value and the allowed ones."""


class LatentscapeError(Exception):
    """Base class; the CLI prints these as one line and exits non-zero."""


class SpecError(LatentscapeError, ValueError):
    """A dataset spec, YAML file or CLI flag is invalid."""


class SamplingError(LatentscapeError):
    """Latents could not be drawn (for example no in-frame position exists)."""


class FormatError(LatentscapeError):
    """A file is not a latentscape dataset or shard, or has an unknown schema version."""


class DatasetNotFoundError(LatentscapeError, FileNotFoundError):
    """A dataset root has no manifest."""


class DatasetMismatchError(LatentscapeError):
    """An output directory holds a different dataset."""


class RenderError(LatentscapeError):
    """A render worker failed; the message names the shard, image index and original error."""


class DeviceError(LatentscapeError):
    """The requested render device does not exist on this machine."""


class TargetError(SpecError):
    """An unknown target name or target encoding; the message lists the valid ones."""


class SplitError(SpecError):
    """An unknown split, an invalid split definition, or a split file that does not match its dataset."""


class ExportError(LatentscapeError):
    """An export could not be written (for example the output already holds shards)."""


class AssetError(LatentscapeError):
    """Asset files could not be read; the message lists every bad file."""


class OutputPathError(LatentscapeError):
    """An output path cannot be written safely (empty, a device or FIFO, a missing or
    read-only directory, a pseudo-filesystem, a name too long, a wrong image suffix)."""


class IncompleteDatasetError(FormatError):
    """A dataset's shards do not cover 0..n-1 yet (an interrupted render): readers refuse it."""


class TrainError(LatentscapeError):
    """A training or evaluation run cannot start or continue: a bad option, a target the dataset
    does not vary, an unknown architecture, a run directory or dataset that does not match."""


class AnalysisError(LatentscapeError, ValueError):
    """Analysis input is unusable: mismatched image sets, a latent the dataset holds fixed, NaNs
    in recordings, too few samples for a statistic; the message names the value and the fix."""


def first_line(e: BaseException) -> str:
    """The first non-empty line of an exception's message (its type's name if it has none):
    what a one-line error quotes from a library's multi-line message."""
    return next((ln.strip() for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
