"""Prometheus metrics of the policy service (``babel_policy_``), its own registry.

requests_total{action} (DUNNO, PREPEND, REJECT, DEFER or the SMTP code sent),
lookups_total{outcome} (hit, waited, timeout, silent, no_flow, allowlisted), wait_seconds (time a
request waited for a pending verdict that came), alerts_total{topic},
alerts_rejected_total, protocol_errors_total{kind}, internal_errors_total,
connections (open now), cache_entries.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class PolicyMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("babel_policy_requests", "Policy answers by action", ["action"], registry=r)
        self.lookups = Counter("babel_policy_lookups", "Verdict lookups at RCPT by outcome", ["outcome"],
                               registry=r)
        self.wait_seconds = Histogram("babel_policy_wait_seconds", "Wait for a pending verdict that came",
                                      buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5), registry=r)
        self.alerts = Counter("babel_policy_alerts", "Alert stream messages by topic", ["topic"], registry=r)
        self.alerts_rejected = Counter("babel_policy_alerts_rejected", "Invalid alert messages", registry=r)
        self.protocol_errors = Counter("babel_policy_protocol_errors", "Policy connections closed on trouble",
                                       ["kind"], registry=r)
        self.internal_errors = Counter("babel_policy_internal_errors", "Bugs caught (answered DUNNO)",
                                       registry=r)
        self.connections = Gauge("babel_policy_connections", "Open policy connections", registry=r)
        self.cache_entries = Gauge("babel_policy_cache_entries", "Flows in the verdict cache", registry=r)
