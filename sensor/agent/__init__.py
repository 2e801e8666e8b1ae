"""The firewall agent: subscriber, validation, allowlist, journal, backends (DESIGN s5)."""

from .agent import Agent, AgentConfig
from .backends import BackendError, DryRunBackend, NftablesBackend
from .journal import Journal
from .policy import Allowlist, Rejected, check_alert

__all__ = [
    "Agent", "AgentConfig", "Allowlist", "BackendError", "DryRunBackend", "Journal",
    "NftablesBackend", "Rejected", "check_alert",
]
