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
def replay(
    pcap: tuple[str, ...],
    fmt: str | None,
    output_file: str | None,
    ports: str | None,
    config: Path | None,
    progress: bool | None,
    quiet: bool,
    log_level: str | None,
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
        },
    )
    setup_logging(settings.log.level)
    output = open_output(settings)
    pipeline = Pipeline(settings, [output])
    try:
        files, packets = open_captures(list(pcap), pipeline.bypass)
    except SensorError as exc:
        raise click.ClickException(str(exc)) from None
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
