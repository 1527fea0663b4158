"""autoscope's own exception and warning classes.

Callers can catch autoscope's errors apart from library errors. Instrument
faults (raised by a backend, real or simulated) derive from
:class:`InstrumentFault`; a plan that meets one closes its run with exit status
``fail`` and the fault's message as the reason.

Every exception and warning class of the package is defined here (a module may
re-export one under its old name, e.g. ``autoscope.io.sxm.SxmFormatError``).
The convention:

- bad input or configuration (an argument, option, config value, a file path
  or name the user gave) is a :class:`ConfigurationError`, which is also a
  :class:`ValueError`; its message names the offending value;
- a file (or byte string) whose *content* is malformed or unreadable is a
  :class:`DataFormatError`, which is not a configuration error; its message
  names the file and what is wrong;
- a value beyond a device's safety limit is a :class:`SafetyLimitError`;
- the instrument failing is an :class:`InstrumentFault`.
"""


class AutoscopeError(Exception):
    """Base class of every error autoscope raises on purpose."""


class AutoscopeWarning(UserWarning):
    """Base class of autoscope's warnings."""


class InvalidSpectrumWarning(AutoscopeWarning):
    """A spectrum with NaN, inf or a saturated channel was left out."""


class ConfigurationError(AutoscopeError, ValueError):
    """Bad configuration or bad input, found before anything moved.

    Also a :class:`ValueError`, so ``except ValueError`` around a call with bad
    arguments still catches it.
    """


class DataFormatError(AutoscopeError):
    """A file's content is malformed or unreadable (corrupt, truncated, or another format).

    Not a :class:`ConfigurationError`: the options were fine, the data is not.
    The message names the file (or source) and the problem.
    """


class SxmFormatError(DataFormatError):
    """A file is not a readable Nanonis ``.sxm`` file; the message names the file."""


class DatFormatError(DataFormatError):
    """A file is not a readable Nanonis ``.dat`` file; the message names the file."""


class RawImageFormatError(DataFormatError):
    """Bytes are not a shape-prefixed float64 image; the message names the source."""


class RecordedDatasetFormatError(DataFormatError):
    """A file is not a readable recorded dataset (HDF5 with ``image``, ...); names the file."""


class SafetyLimitError(AutoscopeError, ValueError):
    """A requested value is beyond a safety limit of the device."""


class CatalogError(AutoscopeError):
    """The catalog (Tiled server) cannot be reached, written or started."""


class InstrumentFault(AutoscopeError):
    """The instrument failed during an operation."""


class InstrumentTimeout(InstrumentFault):
    """The instrument did not answer in time."""


class LostContact(InstrumentFault):
    """Feedback lost the surface (tip retracted fully, no tunnelling / contact)."""


class TipCrash(InstrumentFault):
    """The tip touched the surface hard; the tip state has changed."""


class TipRecoveryFailed(AutoscopeError):
    """The tip stayed bad after the allowed conditioning actions; imaging stopped."""


class InstrumentConnectionError(InstrumentFault):
    """The connection to the instrument's controller failed, dropped or broke off mid-answer."""


class NanonisError(InstrumentFault):
    """A Nanonis controller answered a command with an error (its trailer's status and message).

    ``command``, ``status`` and ``controller_message`` hold what the controller said.
    """

    def __init__(self, command: str, status: int, controller_message: str) -> None:
        self.command = command
        self.status = int(status)
        self.controller_message = controller_message
        super().__init__(f"Nanonis {command} failed (status {status}): {controller_message}")


class Grid3dsFormatError(DataFormatError):
    """A file is not a readable Nanonis ``.3ds`` grid; the message names the file and the fault."""


class IncompleteGridWarning(AutoscopeWarning):
    """A grid holds fewer measured points than it declares; the rest were marked missing."""


class AgentServiceError(AutoscopeError):
    """The agent runner cannot go on: its campaign is held by another runner, or keeps failing."""


class NotRecorded(InstrumentFault):
    """A recorded-data backend was asked for something it never recorded.

    A position outside the recorded grid or at a point the grid never measured,
    or an action a recording cannot perform (a bias pulse); the message names it.
    As an :class:`InstrumentFault`, a plan that meets it closes its run with the
    message as the reason.
    """


class CatalogRequestError(AutoscopeError):
    """A batch of documents the catalog server does not apply, with the HTTP status it answers.

    Raised inside the server's document endpoint (``autoscope.catalog.ingest``)
    and answered there as that status with ``detail`` as the body.
    """

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


class CatalogResend(CatalogError):
    """The catalog server does not hold a run's earlier documents (409).

    The writer re-sends the run whole from its spool (the server restarted, or
    a batch is missing).
    """


class CatalogRoutesOnly(AutoscopeError):
    """The server's document endpoint cannot build this run (501).

    The writer sends the run through Tiled's own routes instead.
    """
