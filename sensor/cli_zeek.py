"""``babel-sensor zeek``: conversations from the Zeek package's log (registered in cli.py)."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Any

import click

from .capture.zeeklog import read_records
from .cli_dialects import load_machine
from .errors import SensorError
from .pipeline import Pipeline


@click.command()
@click.argument("logs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--follow", is_flag=True,
              help="Keep reading a growing log (tail -F): new records as Zeek writes them, across rotation.")
@click.option("--idle-exit", type=float, default=None, metavar="SECONDS",
              help="With --follow: stop after SECONDS without a new record.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "table"]), default=None)
@click.option("-o", "--output", "output_file", default=None, metavar="FILE")
@click.option("--dialects", "dialects_dir", type=click.Path(path_type=Path), default=None,
              help="Dialect directory (default: the bundled dialects).")
@click.option("--config", "config", type=click.Path(path_type=Path), default=None)
@click.option("--explain", is_flag=True, help="Add each dialect's reason to every record.")
@click.option("-q", "--quiet", is_flag=True, help="No summary on stderr.")
def zeek(logs: tuple[Path, ...], follow: bool, idle_exit: float | None, fmt: str | None,
         output_file: str | None, dialects_dir: Path | None, config: Path | None,
         explain: bool, quiet: bool) -> None:
    """Label the conversations in smtp_dialect.log files written by the Zeek package.

    The records go through the same SMTP and dialect stages as `replay` and give the
    same conversation objects, so every output and consumer works unchanged.
    """
    from .cli import open_output, settings_from, setup_logging

    settings = settings_from(config, {("output", "format"): fmt, ("output", "file"): output_file})
    setup_logging(settings.log.level)
    pipeline = Pipeline(settings, [open_output(settings)], machine=load_machine(dialects_dir), explain=explain)
    try:
        sources: list[Any] = [read_records(p, follow=follow and len(logs) == 1, idle_exit=idle_exit) for p in logs]
        pipeline.run_conversations(itertools.chain.from_iterable(sources))
    except SensorError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        click.echo("babel-sensor: interrupted", err=True)
    stats = pipeline.finish()
    if not quiet:
        click.echo(stats.summary(), err=True)
    sys.stdout.flush()
