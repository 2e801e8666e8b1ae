"""B@bel sensor: passive recognition of SMTP dialects."""

__version__ = "0.1.0"
