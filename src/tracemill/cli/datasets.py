"""``tracemill datasets promote|list|versions|show|diff|tag|export|import``: versioned golden datasets."""

from __future__ import annotations

import getpass
from pathlib import Path

import orjson
import typer
from rich.console import Console

from tracemill.cli import app
from tracemill.cli.sql import render_table

datasets_app = typer.Typer(help="Versioned golden datasets: promote traces, tag, diff, import/export.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")
console = Console()


def _author(author: str | None) -> str:
    if author:
        return author
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "cli"


def _con():
    from tracemill.warehouse import connect

    return connect()


def _short(value: object, width: int = 60) -> str:
    if value is None:
        return ""
    s = value if isinstance(value, str) else orjson.dumps(value).decode()
    s = " ".join(s.split())
    return s if len(s) <= width else s[: width - 1] + "…"


def _input_preview(inputs: dict) -> str:
    from tracemill.datasets.dedup import input_text

    return _short(input_text(inputs), 100)


@datasets_app.command("promote")
def promote_cmd(
    name: str = typer.Argument(..., help="Dataset to promote into (created if new)"),
    policy: str = typer.Option("clusters", help="clusters | query | feedback"),
    k: int = typer.Option(3, "--k", help="Representatives per failure cluster (and successes)"),
    budget: int = typer.Option(50, help="At most this many new examples"),
    query: str | None = typer.Option(None, "--query", help="For --policy query: a SELECT returning trace_id"),
    author: str | None = typer.Option(None, help="Who promotes (default: your login)"),
) -> None:
    """Promote production traces into a new dataset version (near-duplicates are skipped)."""
    from tracemill.datasets.promote import promote
    from tracemill.settings import get_settings

    with console.status(f"promoting into {name} ({policy})…"):
        result = promote(get_settings(), name, policy=policy, k_per_cluster=k, budget=budget, query_sql=query,
                         author=_author(author))
    d = result.to_dict()
    if d["ref"] and result.write and result.write.created:
        console.print(f"[green]{d['ref']}[/] hash {d['content_hash'][:12]}  snapshot {d['snapshot_id']}  "
                      f"{d['n_examples']} examples (+{d['added']} added, {d['changed']} changed, "
                      f"{d['skipped_duplicates']} duplicates skipped)")
    else:
        console.print(f"nothing new to promote into {name} ({d['skipped_duplicates']} duplicates skipped)")
    if result.per_stratum:
        rows = [("successes" if s == "__success__" else s, n) for s, n in result.per_stratum.items()]
        console.print(render_table(["stratum", "promoted"], rows))


@datasets_app.command("list")
def list_cmd() -> None:
    """List datasets with their latest version and tags."""
    from tracemill.datasets.versions import current_tags
    from tracemill.warehouse import query as q

    con = _con()
    rows = con.execute(q("datasets/list_datasets")).fetchall()
    out = []
    for name, head, n, digest, created, message, _desc in rows:
        tags = ", ".join(f"{t}->v{v}" for t, v in sorted(current_tags(con, name).items()))
        out.append((name, f"v{head}", n, (digest or "")[:12], str(created)[:19], tags, message))
    if not out:
        console.print("no datasets yet: `tracemill datasets promote NAME` or `tracemill datasets import NAME FILE`")
        return
    console.print(render_table(["dataset", "latest", "examples", "hash", "created", "tags", "message"], out))


@datasets_app.command("versions")
def versions_cmd(name: str = typer.Argument(..., help="Dataset name")) -> None:
    """Every version of a dataset, with its hash, snapshot and tags."""
    from tracemill.datasets.versions import current_tags, list_versions

    con = _con()
    tags = current_tags(con, name)
    rows = [
        (f"v{v.version}", v.short_hash, v.snapshot_id, str(v.created_at)[:19], v.n_examples,
         ", ".join(t for t, tv in tags.items() if tv == v.version), v.message)
        for v in list_versions(con, name)
    ]
    console.print(render_table(["version", "hash", "snapshot", "created", "examples", "tags", "message"], rows))


@datasets_app.command("show")
def show_cmd(
    ref: str = typer.Argument(..., help="NAME, NAME@v3, NAME@<tag>, NAME@<hash prefix> or NAME@<timestamp>"),
    limit: int = typer.Option(20, help="Examples to print at most"),
    as_json: bool = typer.Option(False, "--json", help="Print the examples as JSON lines"),
) -> None:
    """Print a version's examples with their lineage (trace, cluster, mining run, who promoted them and when)."""
    from tracemill.datasets.store import load_examples
    from tracemill.datasets.versions import current_tags

    con = _con()
    v, examples = load_examples(con, ref)
    if as_json:
        for e in examples[:limit]:
            typer.echo(orjson.dumps(e.model_dump(mode="json")).decode())
        return
    tags = [t for t, tv in current_tags(con, v.name).items() if tv == v.version]
    console.print(
        f"[bold]{v.ref}[/]  hash {v.content_hash}  snapshot {v.snapshot_id}  created {v.created_at:%Y-%m-%d %H:%M:%S}Z\n"
        f"{v.n_examples} examples  tags: {', '.join(tags) or '-'}  message: {v.message}  (integrity check passed)",
        highlight=False,
    )
    # one block per example: readable at any terminal width, lineage on the first line
    for e in examples[:limit]:
        at = f"{e.promoted_at:%Y-%m-%d %H:%M}" if e.promoted_at else "-"
        console.print(
            f"[bold]{e.example_id}[/]  split={e.split}  trace={e.source_trace_id or '-'}  cluster={e.cluster_id or '-'}  "
            f"mining run={e.mining_run_id or '-'}  promoted by={e.promoted_by or '-'} at {at}",
            highlight=False,
        )
        console.print(f"    input:      {_input_preview(e.inputs)}", highlight=False, markup=False)
        console.print(f"    reference:  {_short(e.reference_output, 100) or '-'}", highlight=False, markup=False)
        if e.reference_trajectory:
            console.print("    trajectory: " + " > ".join(c.name for c in e.reference_trajectory), highlight=False, markup=False)
        tags = e.metadata.get("tags") if isinstance(e.metadata, dict) else None
        if tags:
            console.print(f"    tags:       {', '.join(map(str, tags))}", highlight=False, markup=False)
    if len(examples) > limit:
        console.print(f"… {len(examples) - limit} more (use --limit)")


@datasets_app.command("diff")
def diff_cmd(
    old: str = typer.Argument(..., help="Older version ref (or the only ref: then diff it against its previous version)"),
    new: str | None = typer.Argument(None, help="Newer version ref"),
    fields: bool = typer.Option(True, help="Show field-level changes"),
) -> None:
    """Added, removed and changed examples between two versions."""
    from tracemill.datasets.diff import diff_versions
    from tracemill.datasets.versions import resolve

    con = _con()
    if new is None:
        v = resolve(con, old)
        if v.version == 1:
            console.print(f"{v.ref} is the first version; nothing to diff against")
            return
        old, new = f"{v.name}@v{v.version - 1}", v.ref
    d = diff_versions(con, old, new)
    console.print(f"{d.old.ref} -> {d.new.ref}: +{len(d.added)} added, -{len(d.removed)} removed, ~{len(d.changed)} changed")
    rows = [("added", i, "", "", "") for i in d.added] + [("removed", i, "", "", "") for i in d.removed]
    for eid, changes in d.changed.items():
        for c in changes if fields else changes[:1]:
            rows.append(("changed", eid, c.field, _short(c.old, 40), _short(c.new, 40)))
    if rows:
        console.print(render_table(["change", "example", "field", "old", "new"], rows))


@datasets_app.command("tag")
def tag_cmd(
    ref: str = typer.Argument(..., help="Version to tag, e.g. support@v3 (or NAME to list tag history)"),
    tag: str | None = typer.Argument(None, help="Tag to set or move, e.g. prod, candidate"),
    delete: bool = typer.Option(False, "--delete", help="Delete the tag instead"),
    author: str | None = typer.Option(None),
) -> None:
    """Set or move a tag to a version; without TAG, print the tag history."""
    from tracemill.datasets.tags import delete_tag, set_tag, tag_history
    from tracemill.datasets.versions import split_ref

    con = _con()
    name, _ = split_ref(ref)
    if tag is None:
        rows = [(m.tag, f"v{m.version}" if m.version else "(deleted)", str(m.set_at)[:19], m.set_by or "") for m in tag_history(con, name)]
        console.print(render_table(["tag", "version", "set at", "by"], rows) if rows else f"{name} has no tags")
        return
    if delete:
        delete_tag(con, name, tag, author=_author(author))
        console.print(f"deleted tag {tag} of {name}")
        return
    v = set_tag(con, ref, tag, author=_author(author))
    console.print(f"{name}@{tag} -> {v.ref} ({v.short_hash})")


@datasets_app.command("export")
def export_cmd(
    ref: str = typer.Argument(..., help="Version to export"),
    path: Path = typer.Argument(..., help="Output file (.jsonl, .parquet, .csv)"),
    fmt: str = typer.Option("auto", "--format", help="auto | jsonl | parquet | csv | openai | openai-evals"),
) -> None:
    """Export a version (hash-checked) to a file."""
    from tracemill.datasets.io import export_version

    v, n = export_version(_con(), ref, path, fmt=fmt)
    console.print(f"wrote {n} examples of {v.ref} ({v.short_hash}) to {path}")


@datasets_app.command("import")
def import_cmd(
    name: str = typer.Argument(..., help="Dataset to import into (created if new)"),
    path: Path = typer.Argument(..., help="File to import"),
    fmt: str = typer.Option("auto", "--format", help="auto | jsonl | parquet | csv | openai | openai-evals | qa | tau2"),
    inputs: str | None = typer.Option(None, "--inputs", help="Comma-separated input fields of plain JSONL rows"),
    output: str | None = typer.Option(None, "--output", help="Reference-output field of plain JSONL rows"),
    splits: Path | None = typer.Option(None, "--splits", help="tau2 split file (default: split_tasks.json beside it)"),
    replace: bool = typer.Option(False, "--replace", help="Also remove examples not in the file"),
    author: str | None = typer.Option(None),
) -> None:
    """Import a file as a new version; a file with bad rows is refused whole (errors name the lines)."""
    from tracemill.datasets.io import import_file

    with console.status(f"importing {path.name}…"):
        r = import_file(
            _con(), name, path, author=_author(author), fmt=fmt,
            input_fields=[f.strip() for f in inputs.split(",")] if inputs else None, output_field=output,
            splits_path=splits, replace=replace,
        )
    if r.created:
        console.print(f"[green]{r.version.ref}[/] hash {r.version.short_hash}: {r.version.n_examples} examples "
                      f"(+{len(r.added)} added, {len(r.changed)} changed, -{len(r.removed)} removed)")
    else:
        console.print(f"{name} already holds exactly these examples ({r.version.ref}); no new version")
