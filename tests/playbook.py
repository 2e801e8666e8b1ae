"""Transcript helper for the SMTP stage: feed a conversation whole, byte by byte and at
random splits, and check the events are the same every time (h11's test_io idea)."""

from __future__ import annotations

import random

from sensor.reassembly.events import ConnectionClosed, StreamData, StreamEnd, StreamEvent
from sensor.smtp import SmtpConversation, SmtpEvent

C, S = "C", "S"
Script = list[tuple[str, bytes]]


def stream_events(script: Script, split: str | int = "whole", close: str | None = "close") -> list[StreamEvent]:
    """Turn a transcript into stream events; every chunk has ts=1.0 and no ACK info."""
    rng = random.Random(split) if isinstance(split, int) else None
    offsets = {C: 0, S: 0}
    events: list[StreamEvent] = []
    for side, data in script:
        pieces: list[bytes]
        if split == "whole":
            pieces = [data]
        elif split == "bytes":
            pieces = [data[i : i + 1] for i in range(len(data))]
        else:
            assert rng is not None
            pieces, i = [], 0
            while i < len(data):
                n = rng.randint(1, 7)
                pieces.append(data[i : i + n])
                i += n
        for piece in pieces:
            events.append(StreamData(1.0, side == C, offsets[side], piece, None))
            offsets[side] += len(piece)
    if close:
        events.append(StreamEnd(1.0, True))
        events.append(ConnectionClosed(1.0, close))
    return events


def run(script: Script, split: str | int = "whole", close: str | None = "close", **kwargs: object) -> list[SmtpEvent]:
    conv = SmtpConversation(**kwargs)  # type: ignore[arg-type]
    out: list[SmtpEvent] = []
    for event in stream_events(script, split, close):
        out.extend(conv.feed(event))
    return out


def run_all_ways(script: Script, **kwargs: object) -> list[SmtpEvent]:
    """Events for the script; asserts they are identical whole, bytewise and at random splits."""
    whole = run(script, "whole", **kwargs)
    assert run(script, "bytes", **kwargs) == whole
    for seed in range(5):
        assert run(script, seed, **kwargs) == whole
    return whole
