"""The project's expected failures: one base class, so that a stage prints one line for them
and a full traceback for anything else (a bug)."""


class DigitsError(Exception):
    """An expected failure; the message says what is wrong and what to do."""


class StageError(DigitsError):
    """A stage cannot complete: a gate failed, an input is missing."""


class ParamsError(DigitsError, ValueError):
    """A knob in params.yaml (or a setting) is missing or out of range."""


class MissingInputError(DigitsError, FileNotFoundError):
    """A file an earlier step should have made is not there."""


class RegistryError(DigitsError, LookupError):
    """The model registry has no such version, alias or bento."""
