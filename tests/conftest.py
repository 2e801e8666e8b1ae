from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sensor.capture import open_captures
from sensor.config import Settings, load_settings
from sensor.pipeline import Pipeline

HERE = Path(__file__).parent
PUBLIC = HERE.parent.parent / "shared" / "pcaps" / "public"


class Collect:
    """An Output that keeps the records."""

    def __init__(self) -> None:
        self.alerts: list[Any] = []

    def publish(self, alert: Any) -> None:
        self.alerts.append(alert)

    def close(self) -> None:
        pass


def replay_pipeline(
    paths: list[Path], settings: Settings | None = None, machine: Any = None, *, decoded: bool = True
) -> tuple[Pipeline, list[dict[str, Any]]]:
    """Run the pipeline on captures as ``replay`` does (the reader decoding, or with
    ``decoded=False`` the pipeline's own decoder on raw packets); return it and the
    JSON objects of every conversation."""
    out = Collect()
    pipeline = Pipeline(settings or load_settings(), [out], isolate_errors=False, machine=machine)
    _files, packets = open_captures(
        [str(p) for p in paths], pipeline.bypass, pipeline.decoder if decoded else None
    )
    pipeline.run(packets, decoded=decoded)
    pipeline.finish()
    return pipeline, [json.loads(json.dumps(a.to_json())) for a in out.alerts]


def replay_records(paths: list[Path], settings: Settings | None = None, machine: Any = None) -> list[dict[str, Any]]:
    """Run the pipeline on captures; return the JSON objects of every conversation."""
    return replay_pipeline(paths, settings, machine)[1]


@pytest.fixture
def replay() -> Callable[..., list[dict[str, Any]]]:
    return replay_records


@pytest.fixture
def public_pcaps() -> Path:
    if not PUBLIC.is_dir():
        pytest.skip(f"public captures not present at {PUBLIC}")
    return PUBLIC
