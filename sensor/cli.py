"""The ``babel-sensor`` command: a thin click layer over ``config`` and ``pipeline``.

Only this module turns ``SensorError`` into ``click.ClickException`` (exit 1, one line on
stderr); usage errors exit 2; logging is configured here, once.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import click

from . import __version__
from .capture import PcapFile, open_captures
from .config import Settings, find_config, load_settings
from .errors import SensorError
from .outputs import Output
from .outputs.jsonlines import JsonLinesOutput
from .outputs.table import TableOutput
from .pipeline import Pipeline

logger = logging.getLogger("babel_sensor")


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="babel-sensor: %(levelname)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )


def settings_from(config: Path | None, overrides: dict[tuple[str, str], Any]) -> Settings:
    try:
        return load_settings(config if config is not None else find_config(), overrides)
    except SensorError as exc:
        raise click.ClickException(str(exc)) from None


def open_output(settings: Settings) -> Output:
    target = settings.output.file
    try:
        stream: TextIO = (
            sys.stdout if target == "-" else open(target, "w", encoding="utf-8")  # noqa: SIM115
        )
    except OSError as exc:
        raise click.ClickException(f"{target}: cannot write: {exc.strerror}") from None
    owned = target != "-"
    if settings.output.format == "table":
        return TableOutput(stream, owned=owned)
    return JsonLinesOutput(stream, owned=owned)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="babel-sensor")
def cli() -> None:
    """B@bel sensor: recognise spambots by how they speak SMTP.

    Reassembles SMTP conversations from captures or a live interface, labels each one
    by its dialect and publishes verdicts.
    """


def publish_options(f: Callable[..., None]) -> Callable[..., None]:
    """The alert-stream flags shared by ``replay`` and ``live`` (DESIGN s4)."""
    for decorator in reversed((
        click.option("--publish", "publish", default=None, metavar="ENDPOINT",
                     help="Publish every record on a ZeroMQ alert stream bound here, "
                          "e.g. tcp://0.0.0.0:5556 ([zmq] publish)."),
        click.option("--curve-secret", "curve_secret", default=None, metavar="FILE",
                     help="The sensor's secret key (NAME.key_secret) for the CURVE server."),
        click.option("--allow-subscribers", "allow_subscribers", default=None, metavar="DIR",
                     help="Only subscribers whose public key (*.key) is in DIR may read."),
        click.option("--sensor-id", "sensor_id", default=None, metavar="NAME",
                     help="The sensor's id in every message (default: host name)."),
    )):
        f = decorator(f)
    return f


@cli.command()
@click.argument("pcap", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["jsonl", "table"]), default=None,
              help="Output format (default: jsonl, or [output] format).")
@click.option("-o", "--output", "output_file", default=None, metavar="FILE",
              help="Write conversations to FILE instead of stdout.")
@click.option("--ports", default=None, metavar="LIST",
              help="TCP server ports to follow, comma-separated (default 25,587).")
@click.option("--config", "config", type=click.Path(path_type=Path), default=None,
              help="INI configuration file (default: $BABEL_SENSOR_CONFIG, ./config.ini, "
                   "/etc/babel-sensor/config.ini, else built-in defaults).")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: when stderr is a terminal).")
@click.option("-q", "--quiet", is_flag=True, help="No summary on stderr.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default=None)
@publish_options
@click.option("--wait-subscribers", type=float, default=None, metavar="SECONDS",
              help="With --publish: wait up to SECONDS for a first subscriber (default 30).")
@click.option("--realtime", is_flag=True,
              help="Replay at capture pace (packet timestamps), e.g. into the alert stream.")
def replay(
    pcap: tuple[str, ...],
    fmt: str | None,
    output_file: str | None,
    ports: str | None,
    config: Path | None,
    progress: bool | None,
    quiet: bool,
    log_level: str | None,
    wait_subscribers: float | None,
    realtime: bool,
    **publishing: Any,
) -> None:
    """Label every SMTP conversation in PCAP files (pcap, pcapng, .gz; - for stdin).

    Several files are merged in timestamp order. One JSON object per conversation on
    stdout (or -o FILE); a summary on stderr.
    """
    settings = settings_from(
        config,
        {
            ("output", "format"): fmt,
            ("output", "file"): output_file,
            ("capture", "ports"): ports,
            ("log", "level"): log_level,
            ("zmq", "wait_subscribers"): wait_subscribers,
            **publish_overrides(publishing),
        },
    )
    setup_logging(settings.log.level)
    outputs = [open_output(settings)]
    publisher = open_publisher(settings)
    if publisher is not None:
        outputs.append(publisher)
    pipeline = Pipeline(settings, outputs)
    try:
        files, packets = open_captures(list(pcap), pipeline.bypass)
    except SensorError as exc:
        raise click.ClickException(str(exc)) from None
    if publisher is not None:
        await_subscriber(publisher, settings.zmq.wait_subscribers)
    if realtime:
        packets = paced(packets)
    show_progress = sys.stderr.isatty() if progress is None else progress
    total = sum(f.size or 0 for f in files)
    if show_progress and total:
        with click.progressbar(length=total, label="replay", file=sys.stderr) as bar:
            pipeline.progress = _progress_callback(files, bar)
            pipeline.run(packets)
            bar.update(total - bar.pos)
    else:
        pipeline.run(packets)
    stats = pipeline.finish()
    for f in files:
        if f.problem:
            click.echo(f"babel-sensor: warning: {f.name}: {f.problem}; kept what was read", err=True)
    if not quiet:
        click.echo(stats.summary(), err=True)


def _progress_callback(files: list[PcapFile], bar: Any) -> Callable[[int], None]:
    def update(_count: int) -> None:
        done = sum(f.position for f in files)
        if done > bar.pos:
            bar.update(done - bar.pos)

    return update


def main() -> None:  # pragma: no cover - console entry point alias
    cli()


# ---------------------------------------------------------------- alert stream (issue 4)
def publish_overrides(publishing: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {("zmq", key): publishing.get(key) for key in
            ("publish", "curve_secret", "allow_subscribers", "sensor_id")}


def open_publisher(settings: Settings) -> Output | None:
    """The ZeroMQ alert stream of ``[zmq]``/``--publish``, or None."""
    z = settings.zmq
    if not z.publish:
        return None
    if not z.curve_secret:
        raise click.UsageError("--publish needs --curve-secret FILE (the sensor's .key_secret)")
    import socket

    from .keys import load_secret
    from .outputs.zmq_pub import ZmqPublisher

    try:
        public, secret = load_secret(z.curve_secret)
        return ZmqPublisher(
            z.publish, public_key=public, secret_key=secret,
            sensor=z.sensor_id or socket.gethostname(), ttl=z.ttl, heartbeat=z.heartbeat,
            sndhwm=z.sndhwm, linger=z.linger,
            allow_subscribers=Path(z.allow_subscribers) if z.allow_subscribers else None,
        )
    except SensorError as exc:
        raise click.ClickException(str(exc)) from None


def await_subscriber(publisher: Output, seconds: float) -> None:
    if seconds <= 0:
        return
    wait = getattr(publisher, "wait_subscribers", None)
    if wait is None:
        return
    logger.info("waiting up to %.0f s for a first subscriber", seconds)
    if not wait(seconds):
        logger.warning("no subscriber after %.0f s; publishing anyway", seconds)


def paced(packets: Any) -> Any:
    from .capture.live import paced as pace

    return pace(packets)


@cli.group()
def keys() -> None:
    """CURVE key pairs for the alert stream (sensor and agent identities)."""


@keys.command("generate")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", required=True, help="Key name: writes DIR/NAME.key and DIR/NAME.key_secret.")
@click.option("--force", is_flag=True, help="Overwrite an existing pair.")
def keys_generate(directory: Path, name: str, force: bool) -> None:
    """Write a CURVE key pair: DIR/NAME.key (public) and DIR/NAME.key_secret (mode 0600).

    Give the public .key to subscribers (agent --sensor-key); keep the .key_secret on
    the sensor (--curve-secret).
    """
    from .keys import generate

    try:
        public, secret = generate(directory, name, overwrite=force)
    except SensorError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"public key: {public}\nsecret key: {secret} (mode 0600)")
