"""Every anomaly name any stage can emit is registered, and documented in the README."""

from __future__ import annotations

import re
from pathlib import Path

from sensor.anomalies import ANOMALIES, STRONG_EVIDENCE

ROOT = Path(__file__).parent.parent


def emitted_names() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "sensor").rglob("*.py"):
        if path.name == "anomalies.py":
            continue
        text = path.read_text()
        names |= set(re.findall(r'"((?:capture|tcp|smtp)_[a-z0-9_]+)"', text))
    return names


def test_every_emitted_name_is_registered() -> None:
    unknown = emitted_names() - set(ANOMALIES)
    assert not unknown, f"emitted but not in sensor/anomalies.py: {sorted(unknown)}"


def test_strong_evidence_is_registered() -> None:
    assert STRONG_EVIDENCE <= set(ANOMALIES)


def test_readme_lists_every_anomaly() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in ANOMALIES if f"`{name}`" not in readme]
    assert not missing, f"README.md does not document: {missing}"
