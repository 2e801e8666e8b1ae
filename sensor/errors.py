"""Operator errors: raised at start-up, turned into one-line messages by ``cli.py``.

Traffic problems are never exceptions (they are anomalies, see ``anomalies.py``);
bugs are not ``SensorError`` either.
"""


class SensorError(Exception):
    """Base of every error an operator can fix (bad file, bad option)."""


class ConfigError(SensorError):
    """A configuration file or option is invalid."""


class DialectFileError(SensorError):
    """A dialect file cannot be loaded."""


class CaptureError(SensorError):
    """A capture file or capture source cannot be read."""
