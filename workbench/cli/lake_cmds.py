"""`workbench lake push|pull|show`, and the engine options of `evaluate` and `retrieve dense` (--engine,
--ray-address, --lake, --pull, --storage-option). The lake and Ray are imported only when a command uses them."""

from __future__ import annotations

# rich, the store and the services load inside the commands that use them: declaring the arguments (and
# `workbench --help`) must not import DuckDB, pyarrow or rich (issue 21).
from workbench.cli.common import (
    Accumulate,
    add_check,
    add_json_arg,
    err_console,
    out_console,
    positive_int,
    print_json,
    progress,
)

ENGINES = ("local", "ray")  # workbench.engine.ENGINES, repeated here so `--help` does not import the engine


def register(sub) -> None:
    p = sub.add_parser("lake", help="push to or pull from a lake (Delta Lake tables on a path or object store)")
    lsub = p.add_subparsers(dest="lake_command", metavar="ACTION")
    lsub.required = True

    ps = lsub.add_parser("push", help="push collections, runs and their scores to a lake (created if absent)")
    ps.add_argument("--to", required=True, metavar="URI", help="the lake: a folder, or s3://, gs://, az://, abfss://")
    _selection_args(ps)
    add_storage_arg(ps)
    add_json_arg(ps)
    ps.set_defaults(func=cmd_push)

    pl = lsub.add_parser("pull", help="pull collections, runs and their scores from a lake into the store")
    pl.add_argument("--from", dest="source", required=True, metavar="URI",
                    help="the lake: a folder, or s3://, gs://, az://, abfss://")
    _selection_args(pl)
    pl.add_argument("--replace", action="store_true",
                    help="replace local runs named with -r that hold other bytes than the lake's")
    add_storage_arg(pl)
    add_json_arg(pl)
    pl.set_defaults(func=cmd_pull)
    add_check(pl, _replace_needs_runs)

    sh = lsub.add_parser("show", help="what a lake holds: collections, runs, score sets")
    sh.add_argument("uri", metavar="URI", help="the lake: a folder, or s3://, gs://, az://, abfss://")
    sh.add_argument("--collection", "-c", help="list this collection's runs")
    add_storage_arg(sh)
    add_json_arg(sh)
    sh.set_defaults(func=cmd_show)


def _selection_args(p) -> None:
    p.add_argument("--collection", "-c", action="append", metavar="NAME",
                   help="only this collection (repeatable; default: all)")
    p.add_argument("--runs", "-r", nargs="+", action=Accumulate, metavar="RUN",
                   help="only these runs of the one collection -c names")
    add_check(p, _runs_need_one_collection)


def _runs_need_one_collection(p, args) -> None:
    if args.runs and len(args.collection or []) != 1:
        p.error("-r/--runs names runs of one collection: give exactly one -c")


def _replace_needs_runs(p, args) -> None:
    if args.replace and not args.runs:
        p.error("--replace replaces only runs named with -r (nothing a user stored is replaced unasked)")


def add_storage_arg(p) -> None:
    p.add_argument("--storage-option", dest="storage_options", action="append", metavar="KEY=VALUE",
                   help="an object-store option passed to deltalake, e.g. AWS_REGION=eu-west-1 (repeatable; "
                        "credentials are better left in the environment)")


def add_engine_args(p, *, lake: bool) -> None:
    """--engine and --ray-address; with `lake`, also --lake, --pull and --storage-option (evaluate)."""
    p.add_argument("--engine", choices=ENGINES, default="local",
                   help="where the work runs: this process, or a Ray cluster")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="Ray cluster to use with --engine ray, e.g. 10.0.0.5:6379 or auto (default: $RAY_ADDRESS, "
                        "else a Ray instance on this machine for this command)")
    if lake:
        p.add_argument("--lake", metavar="URI", help="score the runs of this lake and commit the scores there "
                                                    "(needed with --engine ray)")
        p.add_argument("--pull", action="store_true",
                       help="with --lake: then pull the collection, the runs and their scores into the store")
        p.add_argument("--block-rows", type=positive_int, metavar="N",
                       help="with --lake: run rows per unit of work; bigger runs are split into query blocks, "
                            "smaller ones packed together (default: 2000000)")
        add_storage_arg(p)
    add_check(p, lambda p, args: _engine_check(p, args, lake))


def _engine_check(p, args, lake: bool) -> None:
    if args.ray_address and args.engine != "ray":
        p.error("--ray-address needs --engine ray")
    if lake:
        if args.engine == "ray" and not args.lake:
            p.error("--engine ray scores the runs of a lake: give --lake URI (`workbench lake push` puts the "
                    "store's runs there)")
        if (args.pull or args.storage_options or args.block_rows) and not args.lake:
            p.error("--pull, --block-rows and --storage-option need --lake URI")


def engine_for(args):
    from workbench.engine import get_engine

    return get_engine(args.engine, address=args.ray_address)


def _storage(args) -> dict[str, str]:
    from workbench.lake.tables import parse_storage_options

    return parse_storage_options(args.storage_options)


def evaluate_on_lake(ctx, args):
    """`evaluate --lake URI [--engine ray]`: (Evaluation, extra JSON keys)."""
    from workbench.lake.scoring import DEFAULT_BLOCK_ROWS, evaluate_lake

    engine = engine_for(args)
    try:
        with progress() as bar:
            task = bar.add_task("scoring", total=None)
            result = evaluate_lake(args.lake, args.collection, args.measures, args.runs, engine=engine,
                                   storage_options=_storage(args), pull_into=ctx.store if args.pull else None,
                                   block_rows=args.block_rows or DEFAULT_BLOCK_ROWS,
                                   report=lambda what: bar.update(task, description=what))
    finally:
        engine.close()
    extra = {"lake": result.lake, "engine": result.engine}
    if result.pulled is not None:
        extra["pulled"] = result.pulled
    return result.evaluation, extra


def cmd_push(ctx, args) -> int:
    from workbench.lake.transfer import push

    with progress() as bar:
        task = bar.add_task("pushing", total=None)
        report = push(ctx.store, args.to, collections=args.collection, runs=args.runs,
                      storage_options=_storage(args), report=lambda what: bar.update(task, description=what))
    return _print_report(args, report, "pushed to")


def cmd_pull(ctx, args) -> int:
    from workbench.lake.transfer import pull

    with progress() as bar:
        task = bar.add_task("pulling", total=None)
        report = pull(ctx.store, args.source, collections=args.collection, runs=args.runs, replace=args.replace,
                      storage_options=_storage(args), report=lambda what: bar.update(task, description=what))
    return _print_report(args, report, "pulled from")


def _print_report(args, report, verb: str) -> int:
    from rich.markup import escape

    if args.json:
        print_json(report.to_dict())
        return 0
    for run in report.runs:
        if run["status"] != "unchanged":
            err_console().print(f"{run['status']:9} {escape(run['collection'])}/{escape(run['run'])}")
    err_console().print(escape(report.summary(f"{verb} {report.lake}:")))
    return 0


def cmd_show(ctx, args) -> int:
    from rich.markup import escape
    from rich.table import Table

    from workbench.lake.inspect import lake_summary

    summary = lake_summary(args.uri, collection=args.collection, storage_options=_storage(args))
    if args.json:
        print_json(summary)
        return 0
    table = Table("collection", "qrels", "runs", "score sets", title=f"lake {summary['lake']}")
    for c in summary["collections"]:
        table.add_row(escape(c["name"]), c["qrels_hash"][:12], str(c["runs"]), str(c["score_sets"]))
    out_console().print(table)
    if args.collection:
        runs = Table("run", "kind", "queries", "rows", "run hash", title=f"runs of {args.collection}")
        for r in summary["runs"]:
            runs.add_row(escape(r["name"]), escape(str(r["kind"])), str(r["n_queries"]), str(r["n_rows"]),
                         r["run_hash"][:12])
        out_console().print(runs)
    return 0

