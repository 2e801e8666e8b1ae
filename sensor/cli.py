"""The ``babel-sensor`` command: a thin click layer over ``config`` and ``pipeline``.

Only this module turns ``SensorError`` into ``click.ClickException`` (exit 1, one line on
stderr); usage errors exit 2; logging is configured here, once.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import click

from . import __version__
from .capture import PcapFile, open_captures
from .cli_dialects import load_machine
from .config import Settings, find_config, load_settings
from .errors import SensorError
from .outputs import Output
from .outputs.jsonlines import JsonLinesOutput
from .outputs.table import TableOutput
from .pipeline import Pipeline, tune_gc

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


def build_kind() -> str:
    """"compiled" when the per-packet modules are the mypyc extensions (setup.py), else
    "pure Python": what ``--version`` tells an operator checking a deployment."""
    from . import pipeline

    return "compiled" if not pipeline.__file__.endswith(".py") else "pure Python"


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
@click.version_option(__version__, prog_name="babel-sensor", message=f"%(prog)s %(version)s ({build_kind()})")
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
@click.option("--dialects", "dialects_dir", type=click.Path(path_type=Path), default=None,
              help="Dialect directory (default: the bundled dialects).")
@click.option("--explain", is_flag=True,
              help="Add each dialect's reason to every record (\"explain\" field): where it left, what it expected.")
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
    dialects_dir: Path | None,
    explain: bool,
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
    pipeline = Pipeline(settings, outputs, machine=load_machine(dialects_dir), explain=explain)
    try:
        files, packets = open_captures(list(pcap), pipeline.bypass, pipeline.decoder)
    except SensorError as exc:
        raise click.ClickException(str(exc)) from None
    if publisher is not None:
        await_subscriber(publisher, settings.zmq.wait_subscribers)
    tune_gc()
    if realtime:
        packets = paced(packets)
    show_progress = sys.stderr.isatty() if progress is None else progress
    total = sum(f.size or 0 for f in files)
    if show_progress and total:
        with click.progressbar(length=total, label="replay", file=sys.stderr) as bar:
            pipeline.progress = _progress_callback(files, bar)
            pipeline.run(packets, decoded=True)
            bar.update(total - bar.pos)
    else:
        pipeline.run(packets, decoded=True)
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


def sensor_keys_for(connect: tuple[str, ...], sensor_key: tuple[str, ...]) -> tuple[str, ...]:
    """The pinned sensor key file for each --connect endpoint (one for all, or one each)."""
    if not connect:
        raise click.UsageError("give at least one --connect ENDPOINT")
    if len(sensor_key) not in (1, len(connect)):
        raise click.UsageError("give one --sensor-key per --connect (or one for all)")
    return sensor_key * len(connect) if len(sensor_key) == 1 else sensor_key


def main() -> None:
    """Console entry point: ``babel-sensor ... | head`` ends quietly."""
    try:
        cli()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)


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


# The dialect commands live in cli_dialects.py.
from .cli_dialects import dialects as _dialects  # noqa: E402
from .cli_dialects import evaluate_command as _evaluate  # noqa: E402
from .cli_dialects import learn as _learn  # noqa: E402
from .cli_zeek import zeek as _zeek  # noqa: E402

cli.add_command(_learn)
cli.add_command(_dialects)
cli.add_command(_evaluate)
cli.add_command(_zeek)


@cli.command()
@click.option("-i", "--interface", required=True, metavar="IFACE", help="Interface to capture on.")
@click.option("--bpf", default=None, metavar="EXPR",
              help="Capture filter (default: tcp port 25 or tcp port 587, [capture] bpf).")
@click.option("--engine", type=click.Choice(["tcpdump", "pyshark"]), default=None,
              help="tcpdump pipe (default) or pyshark/tshark.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "table"]), default=None,
              help="Output format (default: jsonl, or [output] format).")
@click.option("-o", "--output", "output_file", default=None, metavar="FILE",
              help="Write conversations to FILE instead of stdout.")
@click.option("--ports", default=None, metavar="LIST", help="TCP server ports to follow (default 25,587).")
@click.option("--stats-interval", type=float, default=None, metavar="SECONDS",
              help="Seconds between stats lines on stderr (default 60; 0: none).")
@click.option("--dialects", "dialects_dir", type=click.Path(path_type=Path), default=None,
              help="Dialect directory (default: the bundled dialects).")
@click.option("--metrics", "metrics_listen", default=None, metavar="HOST:PORT",
              help="Serve Prometheus metrics at http://HOST:PORT/metrics.")
@click.option("--config", "config", type=click.Path(path_type=Path), default=None,
              help="INI configuration file.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default=None)
@publish_options
def live(
    interface: str,
    bpf: str | None,
    engine: str | None,
    fmt: str | None,
    output_file: str | None,
    ports: str | None,
    stats_interval: float | None,
    dialects_dir: Path | None,
    metrics_listen: str | None,
    config: Path | None,
    log_level: str | None,
    **publishing: Any,
) -> None:
    """Label SMTP conversations on a live interface until SIGINT/SIGTERM.

    Runs `tcpdump -i IFACE -U -w - BPF` (capture privileges stay with tcpdump: run the
    sensor as an unprivileged user and give tcpdump CAP_NET_RAW) and reads its pipe
    with the replay reader. A dead tcpdump is restarted with back-off. On stop, open
    conversations are written with end "eof".
    """
    import signal
    import threading

    from .capture.live import PysharkSource, TcpdumpSource

    settings = settings_from(config, {
        ("capture", "bpf"): bpf, ("capture", "ports"): ports, ("live", "engine"): engine,
        ("output", "format"): fmt, ("output", "file"): output_file, ("log", "level"): log_level,
        ("live", "stats_interval"): stats_interval, ("metrics", "sensor"): metrics_listen,
        **publish_overrides(publishing),
    })
    setup_logging(settings.log.level)
    outputs = [open_output(settings)]
    publisher = open_publisher(settings)
    if publisher is not None:
        outputs.append(publisher)
    pipeline = Pipeline(settings, outputs, machine=load_machine(dialects_dir))
    cap, lv = settings.capture, settings.live
    source: TcpdumpSource | PysharkSource
    try:
        if lv.engine == "pyshark":
            source = PysharkSource(interface, cap.bpf, tshark=lv.tshark)
        else:
            source = TcpdumpSource(
                interface, cap.bpf, tcpdump=cap.tcpdump, snaplen=cap.snaplen,
                buffer_size=lv.buffer_size, bypass=pipeline.bypass, decoder=pipeline.decoder,
                backoff=lv.restart_backoff, backoff_max=lv.restart_backoff_max,
            )
    except SensorError as exc:
        raise click.ClickException(str(exc)) from None

    def snapshot() -> dict[str, Any]:
        s = pipeline.stats
        return {
            "packets": source.packets, "verdicts": dict(s.verdicts), "anomalies": dict(s.anomalies),
            "kernel_drops": source.kernel_drops, "restarts": source.restarts,
            "published": getattr(publisher, "published", 0), "dropped": getattr(publisher, "dropped", 0),
            "subscriptions": getattr(publisher, "subscriptions", 0),
        }

    if settings.metrics.sensor:
        from .metrics import sensor_registry, serve

        try:
            serve(settings.metrics.sensor, sensor_registry(snapshot))
        except SensorError as exc:
            raise click.ClickException(str(exc)) from None
    done = threading.Event()

    def report() -> None:
        while not done.wait(lv.stats_interval):
            source.request_stats()
            snap = snapshot()
            logger.info(
                "stats: packets=%d conversations=%d verdicts=%s kernel_drops=%d restarts=%d "
                "published=%d dropped=%d",
                snap["packets"], pipeline.stats.conversations,
                ",".join(f"{k}={v}" for k, v in sorted(snap["verdicts"].items())) or "-",
                snap["kernel_drops"], snap["restarts"], snap["published"], snap["dropped"],
            )

    if lv.stats_interval > 0:
        threading.Thread(target=report, name="stats", daemon=True).start()

    def on_signal(signum: int, _frame: Any) -> None:
        logger.info("signal %d: stopping capture", signum)
        source.stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    tune_gc()
    try:
        pipeline.run(source, decoded=isinstance(source, TcpdumpSource))
    except SensorError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        done.set()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    stats = pipeline.finish()
    click.echo(stats.summary(), err=True)
    click.echo(f"capture: restarts={source.restarts} kernel_drops={source.kernel_drops}", err=True)


@cli.command()
@click.option("--connect", "connect", multiple=True, metavar="ENDPOINT",
              help="A sensor's alert stream, e.g. tcp://sensor:5556 (repeat for several).")
@click.option("--sensor-key", "sensor_key", multiple=True, metavar="FILE",
              help="The sensor's public key (.key), pinned; one per --connect, in order, or one for all.")
@click.option("--curve-secret", default=None, metavar="FILE",
              help="The agent's own key pair (.key_secret); default: an ephemeral pair.")
@click.option("--backend", type=click.Choice(["nftables", "dry-run", "set-only"]), default=None,
              help="nftables (own table), set-only (sets in an operator's table) or dry-run.")
@click.option("--allowlist", default=None, metavar="FILE", help="Addresses/CIDRs never blocked.")
@click.option("--journal", default=None, metavar="FILE", help="SQLite journal of blocks.")
@click.option("--table", default=None, help="nftables table name (default babel_sensor).")
@click.option("--metrics", "metrics_listen", default=None, metavar="HOST:PORT",
              help="Serve Prometheus metrics at http://HOST:PORT/metrics.")
@click.option("--config", "config", type=click.Path(path_type=Path), default=None,
              help="INI configuration file ([agent] section).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default=None)
def agent(
    connect: tuple[str, ...],
    sensor_key: tuple[str, ...],
    curve_secret: str | None,
    backend: str | None,
    allowlist: str | None,
    journal: str | None,
    table: str | None,
    metrics_listen: str | None,
    config: Path | None,
    log_level: str | None,
) -> None:
    """Firewall agent: subscribe to sensors and block bots in nftables.

    Validates every alert (schema, address, allowlist, TTL cap, rate limit, set cap),
    blocks with kernel timeouts (escalating for repeat offenders), journals blocks in
    SQLite and restores them at start, re-creates its table if it vanishes. Runs until
    SIGINT/SIGTERM; blocks stay in the kernel and expire on their own.
    """
    import signal

    from .agent import Agent, Allowlist, DryRunBackend, Journal, NftablesBackend
    from .keys import load_public, load_secret
    from .metrics import AgentMetrics, serve

    settings = settings_from(config, {
        ("agent", "connect"): connect or None, ("agent", "sensor_key"): sensor_key or None,
        ("agent", "curve_secret"): curve_secret, ("agent", "backend"): backend,
        ("agent", "allowlist"): allowlist, ("agent", "journal"): journal, ("agent", "table"): table,
        ("metrics", "agent"): metrics_listen, ("log", "level"): log_level,
    })
    setup_logging(settings.log.level)
    a = settings.agent
    keys_for = sensor_keys_for(a.connect, a.sensor_key)
    try:
        sensors = [(ep, load_public(k)) for ep, k in zip(a.connect, keys_for, strict=True)]
        own = load_secret(a.curve_secret) if a.curve_secret else None
        chosen = (
            DryRunBackend() if a.backend == "dry-run" else NftablesBackend(
                nft=a.nft, family=a.family, table=a.table, set4=a.set4, set6=a.set6, hooks=a.hooks,
                priority=a.priority, ports=a.ports, action=a.action, set_only=a.backend == "set-only",
            )
        )
        metrics = AgentMetrics()
        if settings.metrics.agent:
            serve(settings.metrics.agent, metrics.registry)
        runner = Agent(
            sensors, chosen, Journal(a.journal), Allowlist.load(a.allowlist),
            a,
            client_keys=own, metrics=metrics,
        )
        runner.start()
    except SensorError as exc:
        raise click.ClickException(str(exc)) from None
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda _s, _f: runner.stop())
    try:
        runner.run()
    finally:
        runner.close()
    logger.info("agent stopped; %d blocks stay in the kernel until they expire", runner.blocked)


# ---------------------------------------------------------------- policy service (issue 5)
@cli.group(invoke_without_command=True)
@click.option("--listen", "listen", multiple=True, metavar="HOST:PORT|unix:PATH",
              help="Where Postfix connects (repeatable; default 127.0.0.1:9998).")
@click.option("--connect", "connect", multiple=True, metavar="ENDPOINT",
              help="A sensor's alert stream, e.g. tcp://sensor:5556 (repeatable).")
@click.option("--sensor-key", "sensor_key", multiple=True, metavar="FILE",
              help="The sensor's public key (.key), pinned; one per --connect, or one for all.")
@click.option("--curve-secret", default=None, metavar="FILE",
              help="The service's own key pair (.key_secret); default: an ephemeral pair.")
@click.option("--mode", type=click.Choice(["poison", "reject", "defer", "prepend", "dunno"]), default=None,
              help="What a bot is told at RCPT (default poison: 550 5.1.1 User unknown).")
@click.option("--wait", type=float, default=None, metavar="SECONDS",
              help="Wait this long for a pending verdict, then DUNNO (default 1).")
@click.option("--journal", default=None, metavar="FILE", help="SQLite poisoning journal ('' for none).")
@click.option("--allowlist", default=None, metavar="FILE",
              help="Client addresses/CIDRs never refused or poisoned (one per line).")
@click.option("--metrics", "metrics_listen", default=None, metavar="HOST:PORT",
              help="Serve Prometheus metrics at http://HOST:PORT/metrics.")
@click.option("--config", "config", type=click.Path(path_type=Path), default=None,
              help="INI configuration file ([policy] section).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default=None)
@click.pass_context
def policy(
    ctx: click.Context,
    listen: tuple[str, ...],
    connect: tuple[str, ...],
    sensor_key: tuple[str, ...],
    curve_secret: str | None,
    mode: str | None,
    wait: float | None,
    journal: str | None,
    allowlist: str | None,
    metrics_listen: str | None,
    config: Path | None,
    log_level: str | None,
) -> None:
    """Postfix policy service: answer bots "User unknown" at RCPT (feedback manipulation).

    Speaks the Postfix policy delegation protocol (check_policy_service) over TCP or
    UNIX sockets, with verdicts from sensors' alert streams, joined by the flow's
    4-tuple. Fails open (DUNNO) whenever the sensor is silent, slow or undecided.
    Runs until SIGINT/SIGTERM. "policy journal" summarises what was poisoned.
    """
    if ctx.invoked_subcommand is not None:
        return
    import asyncio
    import signal

    from .keys import load_public, load_secret
    from .metrics import serve
    from .policy.journal import PoisonJournal
    from .policy.metrics import PolicyMetrics
    from .policy.server import PolicyService, parse_listen

    settings = settings_from(config, {
        ("policy", "listen"): listen or None, ("policy", "connect"): connect or None,
        ("policy", "sensor_key"): sensor_key or None, ("policy", "curve_secret"): curve_secret,
        ("policy", "mode"): mode, ("policy", "wait"): wait, ("policy", "journal"): journal,
        ("policy", "allowlist"): allowlist,
        ("metrics", "policy"): metrics_listen, ("log", "level"): log_level,
    })
    setup_logging(settings.log.level)
    p = settings.policy
    keys_for = sensor_keys_for(p.connect, p.sensor_key)
    if not p.listen:
        raise click.UsageError("give at least one --listen HOST:PORT or unix:PATH")
    for text in p.listen:
        try:
            parse_listen(text)
        except ValueError as exc:
            raise click.UsageError(f"--listen {exc}") from None
    try:
        sensors = [(ep, load_public(k)) for ep, k in zip(p.connect, keys_for, strict=True)]
        own = load_secret(p.curve_secret) if p.curve_secret else None
        metrics = PolicyMetrics()
        if settings.metrics.policy:
            serve(settings.metrics.policy, metrics.registry)
        book = PoisonJournal(p.journal) if p.journal else None
        service = PolicyService(p, sensors, client_keys=own, journal=book, metrics=metrics)
    except SensorError as exc:
        raise click.ClickException(str(exc)) from None
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda _s, _f: service.stop())
    try:
        asyncio.run(service.serve(p.listen))
    except OSError as exc:
        raise click.ClickException(f"policy service: {exc}") from None
    finally:
        if book is not None:
            book.close()
    logger.info("policy service stopped")


@policy.command("journal")
@click.argument("journal_file", metavar="FILE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--since", type=float, default=None, metavar="EPOCH", help="Only rows from this time on.")
@click.option("--json", "as_json", is_flag=True, help="The summary as one JSON object.")
def policy_journal(journal_file: Path, since: float | None, as_json: bool) -> None:
    """Summarise a poisoning journal: who was told "User unknown", for what, when."""
    import json

    from .policy.journal import PoisonJournal

    try:
        book = PoisonJournal(journal_file)
    except SensorError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        s = book.summary(since)
    finally:
        book.close()
    if as_json:
        click.echo(json.dumps(s, indent=2))
        return
    click.echo(f"poisoned recipients: {s['poisoned']} ({s['recipients']} distinct) "
               f"to {s['clients']} clients")
    click.echo(f"client+recipient pairs asked again after \"User unknown\": {s['repeated_pairs']}")
    if s["by_dialect"]:
        click.echo("by dialect:")
        for row in s["by_dialect"]:
            click.echo(f"  {row['dialects']:<30} {row['poisoned']:>8} poisoned  {row['clients']:>6} clients  "
                       f"{row['recipients']:>6} recipients")
    if s["by_day"]:
        click.echo("by day (UTC):")
        for row in s["by_day"]:
            click.echo(f"  {row['day']}  {row['poisoned']:>8} poisoned  {row['clients']:>6} clients")
    if s["top_clients"]:
        click.echo("top clients:")
        for row in s["top_clients"]:
            click.echo(f"  [{row['client']}]  {row['poisoned']:>6} poisoned  {row['recipients']:>6} recipients  "
                       f"{row['dialects']}")
