"""`workbench ingest` and `workbench runs list|show|delete|export`."""

from __future__ import annotations

from pathlib import Path

from workbench.cli.common import (
    add_collection_arg,
    add_json_arg,
    add_measures_arg,
    add_runs_args,
    err_console,
    out_console,
    positive_int,
    print_json,
    progress,
)
from workbench.errors import WorkbenchError
from workbench.kinds import RUN_KINDS

# rich, the store and the services load inside the commands that use them: declaring the arguments (and
# `workbench --help`) must not import DuckDB, pyarrow or rich (issue 21).


def register(sub) -> None:
    p = sub.add_parser("ingest", help="validate TREC run files and store them (each file all-or-nothing)")
    add_collection_arg(p)
    p.add_argument("files", nargs="+", help="TREC run files (6 columns; gzip, CRLF, comments are fine)")
    p.add_argument("--name", help="run name (single file only; default: the file stem)")
    p.add_argument("--kind", choices=RUN_KINDS, help="what made the run (default: other)")
    p.add_argument("--parent", help="for a reranked run: the first-stage run it re-scored")
    p.add_argument("--depth", type=positive_int,
                   help="for a reranked run: how many of the parent's documents were re-scored")
    p.add_argument("--replace", action="store_true",
                   help="replace a run of the same name: with a different file, or the same file and new "
                        "--kind/--parent/--depth (the run gets the metadata this command gives)")
    p.add_argument("--lineage", action="store_true",
                   help="read parent and depth from names like <parent>__<reranker>@<depth> when the parent is "
                        "stored or ingested earlier by this command (prints what it read)")
    p.add_argument("--allow-trailing-fields", action="store_true",
                   help="accept text after the 6th field, as trec_eval does (stored as a warning)")
    p.add_argument("--keep-going", action="store_true", help="ingest the good files even if some are refused")
    add_measures_arg(p, "also score the runs on these measures in the same process (per-query values are stored "
                        "as by `workbench evaluate`, which then has nothing left to compute)")
    add_json_arg(p)
    p.set_defaults(func=cmd_ingest)

    r = sub.add_parser("runs", help="list, show, delete or export stored runs")
    rsub = r.add_subparsers(dest="runs_command", metavar="ACTION")
    rsub.required = True
    ls = rsub.add_parser("list", help="list a collection's runs")
    add_collection_arg(ls)
    add_json_arg(ls)
    ls.set_defaults(func=cmd_list)
    sh = rsub.add_parser("show", help="a run's metadata and validation warnings")
    sh.add_argument("name", help="the run")
    add_collection_arg(sh)
    add_json_arg(sh)
    sh.set_defaults(func=cmd_show)
    rm = rsub.add_parser("delete", help="delete a run and its scores (asks for --yes)")
    rm.add_argument("name", help="the run")
    add_collection_arg(rm)
    rm.add_argument("--yes", action="store_true", help="really delete it")
    rm.set_defaults(func=cmd_delete)
    st = rsub.add_parser("set", help="change a stored run's kind, parent, depth or name (rows and scores untouched)")
    st.add_argument("name", help="the run")
    add_collection_arg(st)
    st.add_argument("--kind", choices=RUN_KINDS, help="what made the run")
    st.add_argument("--parent", help="the first-stage run it re-scored (a stored run of the collection)")
    st.add_argument("--depth", type=positive_int, help="how many of the parent's documents it re-scored")
    st.add_argument("--no-parent", action="store_true", help="remove the parent (and the depth, unless given)")
    st.add_argument("--rename", metavar="NEW", help="a new name (free in the collection); scores and the runs "
                                                    "that name it as parent follow")
    add_json_arg(st)
    st.set_defaults(func=cmd_set)
    ex = rsub.add_parser("export", help="write stored runs back out as TREC files into a folder")
    add_collection_arg(ex)
    add_runs_args(ex, "runs to export (default: all)", at_least=0)
    ex.add_argument("--out-dir", "-o", required=True, help="folder to write <run>.trec files into")
    ex.add_argument("--plain", action="store_true",
                    help="6-column lines only, no ir_metadata header (for tools that refuse '#' lines)")
    ex.add_argument("--replace", action="store_true",
                    help="write over <run>.trec files already in the folder (default: refused, nothing written)")
    ex.set_defaults(func=cmd_export)


def cmd_ingest(ctx, args) -> int:
    from rich.markup import escape

    from workbench import interrupts
    from workbench.services.ingest import describe, ingest_runs

    store = ctx.store
    results = []
    with progress() as bar:
        task = bar.add_task("ingesting", total=len(args.files))

        def done(path: Path, outcome) -> None:
            bar.advance(task)
            if isinstance(outcome, WorkbenchError):
                if args.keep_going:  # else the command stops here and its error line says it once
                    msg = str(outcome) if str(path) in str(outcome) else f"{path}: {outcome}"
                    err_console().print(f"[red]refused[/] {escape(msg)}", soft_wrap=True)
                return
            if not args.json:
                scores = "".join(f"  {m} {v:.4f}" for m, v in (outcome.scores or {}).items())
                what = f" ({describe(outcome.info)})" if outcome.status == "updated" else ""
                with interrupts.held():  # the line and the note that the user has it, or neither
                    bar.console.print(f"{outcome.status:9} {outcome.info.name}{what}  ({outcome.info.n_rows} "
                                      f"rows, {outcome.info.n_queries} queries, {len(outcome.info.warnings)} "
                                      f"warnings){scores}", markup=False)
                    interrupts.reported()

        def lineage(path: Path, found) -> None:
            read = (f"parent {found.parent}, depth {found.depth}" if found.parent
                    else f"nothing ({found.note})")
            bar.console.print(f"lineage   {found.name}: {read}", markup=False)

        results = ingest_runs(
            store, args.collection, args.files, on_done=done, keep_going=args.keep_going, name=args.name,
            kind=args.kind, parent=args.parent, depth=args.depth, replace=args.replace, measures=args.measures,
            allow_trailing_fields=args.allow_trailing_fields, lineage=args.lineage, on_lineage=lineage,
        )
    for r in results:  # after the command: during it the store is held by the ingest
        if r.status == "replaced":
            note_children(store, r.info.collection, r.info.name)
    if args.json:
        with interrupts.held():
            print_json([r.to_dict() for r in results])
            interrupts.reported()
    return 0


def note_children(store, collection: str, name: str) -> None:
    """After a run was replaced by other content: the runs that name it as their first stage were made from
    the old one (their depth studies now read the new one)."""
    from workbench.store import children

    kids = children(store, collection, name)
    if kids:
        shown = ", ".join(kids[:5]) + (", ..." if len(kids) > 5 else "")
        err_console().print(f"note: {name} is the parent of {len(kids)} run(s) made from its previous content "
                            f"({shown}); re-make them, or change their parent with `workbench runs set`",
                            markup=False)


def cmd_set(ctx, args) -> int:
    from workbench.services.ingest import describe, set_run_metadata
    from workbench.store import get_run

    if args.no_parent and args.parent is not None:
        raise WorkbenchError("give either --parent or --no-parent")
    if args.depth is not None and args.depth < 1:
        raise WorkbenchError(f"--depth must be a positive integer, got {args.depth}; --no-parent removes it")
    if args.kind is None and args.parent is None and args.depth is None and not args.no_parent and not args.rename:
        raise WorkbenchError("nothing to change: give --kind, --parent, --depth, --no-parent or --rename")
    store = ctx.store
    before = get_run(store, args.collection, args.name)
    after = set_run_metadata(store, args.collection, args.name, kind=args.kind,
                             parent="" if args.no_parent else args.parent, depth=args.depth, rename=args.rename)
    if args.json:
        print_json(_run_dict(after))
        return 0
    changes = [f"{key} {_shown(getattr(before, key))} -> {_shown(getattr(after, key))}"
               for key in ("name", "kind", "parent", "depth") if getattr(before, key) != getattr(after, key)]
    if changes:
        err_console().print(f"updated run {before.name}: {'; '.join(changes)} (rows and scores untouched)",
                            markup=False)
    else:
        err_console().print(f"unchanged run {before.name} ({describe(after)})", markup=False)
    return 0


def _shown(value) -> str:
    return "none" if value is None else str(value)


def cmd_list(ctx, args) -> int:
    from rich.table import Table

    from workbench.store import list_runs

    runs = list_runs(ctx.store, args.collection)
    if args.json:
        print_json([_run_dict(r) for r in runs])
        return 0
    table = Table("run", "kind", "parent", "depth", "queries", "rows", "warnings", "sha256")
    for r in runs:
        table.add_row(r.name, r.kind or "", r.parent or "", "" if r.depth is None else str(r.depth),
                      str(r.n_queries), str(r.n_rows), str(len(r.warnings)), r.run_hash[:12])
    out_console().print(table)
    return 0


def _run_dict(r) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in r.__dict__.items()}


def cmd_show(ctx, args) -> int:
    from workbench.store import get_run

    r = get_run(ctx.store, args.collection, args.name)
    if args.json:
        print_json(_run_dict(r))
        return 0
    con = out_console()
    for key in ("name", "collection", "kind", "parent", "depth", "n_queries", "n_rows", "run_tag", "source_path",
                "run_hash", "ingested_at"):
        con.print(f"{key:12} {getattr(r, key)}", markup=False)
    if r.params:
        con.print(f"{'params':12} {r.params}", markup=False)
    if r.software:
        con.print(f"{'software':12} {r.software}", markup=False)
    if r.metadata_header:
        con.print("ir_metadata:")
        con.print(r.metadata_header.rstrip(), markup=False)
    con.print(f"warnings ({len(r.warnings)}):" if r.warnings else "warnings: none")
    for w in r.warnings:
        con.print(f"  - {w}", markup=False)
    return 0


def cmd_delete(ctx, args) -> int:
    from workbench.store import delete_run, get_run

    get_run(ctx.store, args.collection, args.name)  # a name that is not there is said so, before asking for --yes
    if not args.yes:
        raise WorkbenchError(f"deleting run {args.name!r} deletes its rows and scores; add --yes to confirm")
    delete_run(ctx.store, args.collection, args.name)
    err_console().print(f"deleted run {args.name}", markup=False)
    return 0


def cmd_export(ctx, args) -> int:
    from workbench.services.runs import export_runs

    for path in export_runs(ctx.store, args.collection, args.runs or None, args.out_dir, plain=args.plain,
                            replace=args.replace):
        err_console().print(f"wrote {path}", markup=False)
    return 0
