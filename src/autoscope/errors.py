"""autoscope's own exception and warning classes.

Callers can catch autoscope's errors apart from library errors. Instrument
faults (raised by a backend, real or simulated) derive from
:class:`InstrumentFault`; a plan that meets one closes its run with exit status
``fail`` and the fault's message as the reason.
"""


class AutoscopeError(Exception):
    """Base class of every error autoscope raises on purpose."""


class AutoscopeWarning(UserWarning):
    """Base class of autoscope's warnings."""


class ConfigurationError(AutoscopeError):
    """Bad configuration or bad input, found before anything moved."""


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
