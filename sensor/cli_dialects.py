"""The dialect commands of ``babel-sensor``: learn, dialects, eval (registered in cli.py)."""

from __future__ import annotations

import json
import shutil
import site
import subprocess
import sys
from pathlib import Path
from typing import Any

import click

from .config import load_settings
from .dialect.learn import learn as learn_dialects
from .dialect.loader import dump, load_dir
from .dialect.matcher import DecisionMachine
from .dialect.model import START, Dialect
from .errors import SensorError
from .evaluate import BUCKETS, evaluate, leave_out_machines, report
from .labels import labelled_conversations, read_labels, to_conversation


def fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def bundled_dialects_dir() -> Path:
    """The dialects shipped with the sensor (installed, or in the source tree)."""
    here = Path(__file__).resolve().parent
    share = Path("share") / "babel-sensor" / "dialects"
    candidates = (
        here.parent / "dialects",  # the source tree
        Path(sys.prefix) / share,  # pip install . (a venv or the system)
        Path(site.USER_BASE or "") / share,  # pip install --user
        here.parent / share,  # pip install --target DIR
    )
    for candidate in candidates:
        if any(candidate.glob("*.json")):
            return candidate
    return here.parent / "dialects"


def load_machine(directory: Path | None) -> DecisionMachine:
    try:
        return DecisionMachine(load_dir(directory or bundled_dialects_dir()))
    except SensorError as exc:
        raise click.ClickException(str(exc)) from None


def _pairs(labels: tuple[Path, ...]) -> list[Any]:
    try:
        rows = [row for path in labels for row in read_labels(path)]
        return labelled_conversations(rows)
    except SensorError as exc:
        raise click.ClickException(str(exc)) from None


@click.command()
@click.option("--labels", "labels", type=click.Path(path_type=Path), multiple=True, required=True,
              help="Labels TSV (DESIGN s4); repeat to learn from several.")
@click.option("-o", "--output", "out", type=click.Path(path_type=Path), required=True,
              help="Directory to write one DIALECT.json per dialect into.")
@click.option("--clean", is_flag=True, help="Remove other *.json files from the directory first.")
def learn(labels: tuple[Path, ...], out: Path, clean: bool) -> None:
    """Learn dialects from labelled captures (deterministic: same input, same files)."""
    pairs = _pairs(labels)
    conversations = [to_conversation(row, alert) for row, alert in pairs]
    source = ", ".join(path.name if path.name != "labels.tsv" else str(Path(path.parent.name) / path.name)
                       for path in labels)
    dialects = learn_dialects(conversations, source)
    out.mkdir(parents=True, exist_ok=True)
    if clean:
        for old in out.glob("*.json"):
            old.unlink()
    for dialect in dialects:
        (out / f"{dialect.name}.json").write_text(dump(dialect), encoding="utf-8")
    click.echo(f"learned {len(dialects)} dialects from {len(conversations)} conversations into {out}", err=True)


@click.group()
def dialects() -> None:
    """Inspect dialect models (list, show NAME, graph NAME -o FILE)."""


@dialects.command("list")
@click.option("--dialects", "directory", type=click.Path(path_type=Path), default=None,
              help="Dialect directory (default: the bundled dialects).")
def list_dialects(directory: Path | None) -> None:
    """One line per dialect: class, family, kind, states, transitions, captures."""
    machine = load_machine(directory)
    click.echo(f"{'NAME':<36} {'CLASS':<6} {'FAMILY':<24} {'KIND':<8} {'STATES':>6} {'TRANS':>6} {'CAPTURES':>8}")
    for d in machine.dialects:
        captures = len(d.provenance.get("captures", []))
        click.echo(f"{d.name:<36} {d.cls:<6} {d.family:<24} {d.kind:<8} {len(d.states):>6} "
                   f"{len(d.transitions):>6} {captures:>8}")


def _find(directory: Path | None, name: str) -> Dialect:
    machine = load_machine(directory)
    if name not in machine.by_name:
        raise click.ClickException(f"no dialect named {name!r} (see: babel-sensor dialects list)")
    return machine.by_name[name]


@dialects.command("show")
@click.argument("name")
@click.option("--dialects", "directory", type=click.Path(path_type=Path), default=None)
def show(name: str, directory: Path | None) -> None:
    """The states of one dialect and the lines it sends from each."""
    d = _find(directory, name)
    click.echo(f"{d.name}: class {d.cls}, family {d.family}, kind {d.kind}")
    click.echo(f"provenance: {json.dumps(d.provenance, sort_keys=True)}")
    for state in sorted(d.states):
        click.echo(f"\n{'START' if state == START else repr(state)}")
        for after, nxt in d.successors(state):
            click.echo(f"  after {after:<4} -> {nxt!r}")
    ends = sorted(d.ends)
    if ends:
        click.echo("\nends: " + ", ".join(f"{'START' if s == START else repr(s)}: {e}" for s, e in ends))


def to_dot(d: Dialect) -> str:
    ids = {state: f"s{i}" for i, state in enumerate(sorted(d.states))}

    def label(text: str) -> str:
        return json.dumps(repr(text)[1:-1] if text else "START")

    lines = [f"digraph {json.dumps(d.name)} {{", "  rankdir=LR;", '  node [shape=box, fontname="monospace"];']
    for state, node in ids.items():
        lines.append(f"  {node} [label={label(state)}];")
    for prev, after, nxt in sorted(d.transitions):
        lines.append(f"  {ids[prev]} -> {ids[nxt]} [label={json.dumps(after)}];")
    for state, end in sorted(d.ends):
        lines.append(f'  end_{ids[state]}_{end} [label={json.dumps(end)}, shape=ellipse];')
        lines.append(f"  {ids[state]} -> end_{ids[state]}_{end};")
    lines.append("}")
    return "\n".join(lines) + "\n"


@dialects.command("graph")
@click.argument("name")
@click.option("-o", "--output", "out", type=click.Path(path_type=Path), required=True,
              help="FILE.dot (always), FILE.svg or FILE.png (through Graphviz's dot).")
@click.option("--dialects", "directory", type=click.Path(path_type=Path), default=None)
def graph(name: str, out: Path, directory: Path | None) -> None:
    """Draw one dialect's state machine."""
    dot = to_dot(_find(directory, name))
    if out.suffix == ".dot":
        out.write_text(dot, encoding="utf-8")
        return
    if out.suffix not in (".svg", ".png"):
        raise click.ClickException(f"{out}: use .dot, .svg or .png")
    if shutil.which("dot") is None:
        raise click.ClickException("Graphviz's dot is not installed: write .dot, or install graphviz")
    proc = subprocess.run(["dot", f"-T{out.suffix[1:]}", "-o", str(out)], input=dot.encode(),
                          capture_output=True, check=False)
    if proc.returncode:
        raise click.ClickException(f"dot failed: {proc.stderr.decode(errors='replace').strip()}")


@click.command("eval")
@click.argument("labels", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--dialects", "directory", type=click.Path(path_type=Path), default=None,
              help="Dialects to evaluate (default: the bundled ones).")
@click.option("--leave-out", type=click.Choice(["capture", "dialect"]), default=None,
              help="Learn from the labels themselves, without each capture (or each dialect) "
                   "in turn, and evaluate that one.")
@click.option("--json", "as_json", is_flag=True, help="The whole report as JSON.")
def evaluate_command(labels: tuple[Path, ...], directory: Path | None, leave_out: str | None, as_json: bool) -> None:
    """Confusion matrix, bot precision/recall, every false positive, decision points."""
    pairs = _pairs(labels)
    strong = load_settings().verdict.strong_evidence
    if leave_out:
        machine_for = leave_out_machines(pairs, leave_out)
    else:
        machine = load_machine(directory)

        def machine_for(_row: Any) -> DecisionMachine:
            return machine

    result = report(evaluate(pairs, machine_for, strong))
    if as_json:
        click.echo(json.dumps(result, indent=2, sort_keys=True))
        return
    c = result["confusion"]
    click.echo(f"{result['conversations']} conversations\n")
    header = "label / verdict"
    click.echo(f"{header:<16}" + "".join(f"{v:>11}" for v in ("legit", "bot", "unknown", "ambiguous")))
    for cls, row in c.items():
        click.echo(f"{cls:<16}" + "".join(f"{row[v]:>11}" for v in ("legit", "bot", "unknown", "ambiguous")))
    click.echo(f"\nbot precision {fmt(result['bot_precision'])}  recall {fmt(result['bot_recall'])}")
    fam = result["family_named"]
    click.echo(f"right family among the dialects named: {fam['right']}/{fam['of']} ({fmt(fam['rate'])})")
    click.echo(f"mean candidates left: {result['mean_candidates']:.2f}")
    click.echo("decision points: " + ", ".join(f"{b}: {result['decision_points'][b]}" for b in BUCKETS)
               + f"  (final before DATA: {fmt(result['decided_before_data'])}, median: {result['median_decision_point']})")
    if result["indistinguishable_groups"]:
        click.echo("\nengines it cannot tell apart (families named together, conversations):")
        for group, count in result["indistinguishable_groups"].items():
            click.echo(f"  {count:>4}  {group}")
    click.echo(f"\nfalse positives (legit labelled bot): {len(result['false_positives'])}")
    for fp in result["false_positives"]:
        click.echo(f"  {fp['pcap']} {fp['client']} ({fp['dialect']}) named {fp['named']}")
        for reason in fp["explanation"]:
            click.echo(f"      {reason}")
