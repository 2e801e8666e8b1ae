"""Prometheus metrics for the sensor and the agent (prometheus-client).

Each process builds its own ``CollectorRegistry`` (no global state, so tests can run
several sensors and agents in one process) and serves it with ``serve("host:port")``.
Sensor counters are read from the pipeline's ``Stats`` and the outputs at scrape time
(a custom collector), so the hot path is not touched; agent metrics are ordinary
counters and gauges updated by the agent.

Sensor metrics (``babel_sensor_``): packets_total, conversations_total{verdict},
anomalies_total{name}, capture_kernel_drops_total, capture_restarts_total,
alerts_published_total, alerts_dropped_total (high-water mark), subscriptions.
Agent metrics (``babel_agent_``): messages_total{sensor,topic},
rejected_total{reason}, blocks_total{family}, active_blocks, sequence_gaps_total{sensor},
sensor_silent{sensor} (1 while past the silence warning), repairs_total,
backend_errors_total.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from .errors import ConfigError


def serve(listen: str, registry: CollectorRegistry) -> Any:
    """Serve ``registry`` at ``http://listen/metrics``; returns the server."""
    host, _, port = listen.rpartition(":")
    try:
        server, _thread = start_http_server(int(port), addr=host.strip("[]") or "127.0.0.1", registry=registry)
    except (ValueError, OSError) as exc:
        raise ConfigError(f"metrics {listen!r}: cannot listen: {exc}") from None
    return server


class SensorCollector(Collector):
    """Reads the sensor's counters when scraped. ``snapshot`` returns a plain dict."""

    def __init__(self, snapshot: Callable[[], dict[str, Any]]) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        s = self.snapshot()
        yield CounterMetricFamily("babel_sensor_packets", "Packets read", value=s.get("packets", 0))
        conv = CounterMetricFamily("babel_sensor_conversations", "Conversations by verdict", labels=["verdict"])
        for verdict, n in sorted(s.get("verdicts", {}).items()):
            conv.add_metric([verdict], n)
        yield conv
        anomalies = CounterMetricFamily("babel_sensor_anomalies", "Anomalies by name", labels=["name"])
        for name, n in sorted(s.get("anomalies", {}).items()):
            anomalies.add_metric([name], n)
        yield anomalies
        yield CounterMetricFamily("babel_sensor_capture_kernel_drops", "Packets dropped by the kernel (tcpdump)",
                                  value=s.get("kernel_drops", 0))
        yield CounterMetricFamily("babel_sensor_capture_restarts", "Capture process restarts",
                                  value=s.get("restarts", 0))
        yield CounterMetricFamily("babel_sensor_alerts_published", "Alerts handed to the alert stream",
                                  value=s.get("published", 0))
        yield CounterMetricFamily("babel_sensor_alerts_dropped", "Alerts dropped at the high-water mark",
                                  value=s.get("dropped", 0))
        yield GaugeMetricFamily("babel_sensor_subscriptions", "Subscriptions on the alert stream",
                                value=s.get("subscriptions", 0))


def sensor_registry(snapshot: Callable[[], dict[str, Any]]) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(SensorCollector(snapshot))
    return registry


class AgentMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages = Counter("babel_agent_messages", "Messages received", ["sensor", "topic"], registry=r)
        self.rejected = Counter("babel_agent_rejected", "Alerts rejected, by reason", ["reason"], registry=r)
        self.blocks = Counter("babel_agent_blocks", "Blocks added or refreshed", ["family"], registry=r)
        self.active = Gauge("babel_agent_active_blocks", "Addresses blocked now (journal)", registry=r)
        self.gaps = Counter("babel_agent_sequence_gaps", "Messages missed (sequence gaps)", ["sensor"], registry=r)
        self.silent = Gauge("babel_agent_sensor_silent", "1 while a sensor is silent", ["sensor"], registry=r)
        self.repairs = Counter("babel_agent_repairs", "Table re-created after it vanished", registry=r)
        self.backend_errors = Counter("babel_agent_backend_errors", "Failed backend calls", registry=r)
