"""Errors a user can cause. The CLI prints them as one line and exits non-zero."""


class UserError(Exception):
    """A problem the user can fix: printed as one line, no traceback."""

    exit_code = 2


class SettingsError(UserError):
    """A settings file or MLOPS_* variable is wrong."""


class ValidationGateError(UserError):
    """The data did not pass validation; the run stopped before Transform and Trainer."""

    exit_code = 3


class DataError(UserError):
    """An input data file is unreadable as CSV; found before the run starts."""

    exit_code = 3


class RunFailedError(UserError):
    """A pipeline run failed; the message names the component and the cause."""

    exit_code = 4


class TriggerError(UserError):
    """A CT trigger crashed: `mlops ct check` cannot say whether the pipeline should run."""

    exit_code = 11
