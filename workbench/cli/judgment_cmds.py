"""`workbench pool`: depth-k pools of stored runs, written as a qrels-shaped file to judge."""

from __future__ import annotations

from workbench.cli.common import (
    Accumulate,
    add_check,
    add_collection_arg,
    add_json_arg,
    err_console,
    out_console,
    positive_int,
    print_json,
    write_output,
)


def register(sub) -> None:
    p = sub.add_parser(
        "pool", help="the depth-k pool of stored runs, per query, as a qrels-shaped file to judge",
        description="Pool the documents the runs rank at trec_eval positions 1..K (score descending, doc_id "
                    "descending; not the file's rank column) and write them as TREC qrels lines "
                    "`qid 0 docid rel`, by query then doc_id: a document the collection's qrels judge carries "
                    "its grade, one they do not carries '?' (so the file is refused as qrels until judged). "
                    "Per-query counts (pooled, judged, unjudged, relevant) are printed.")
    add_collection_arg(p)
    p.add_argument("--depth", "-k", type=positive_int, required=True, metavar="K",
                   help="pool each run's top K documents per query")
    p.add_argument("--runs", "-r", nargs="+", action=Accumulate, metavar="RUN",
                   help="runs to pool; -r may be repeated (default: all of the collection's)")
    p.add_argument("--qrels", metavar="NAME",
                   help="tell judged from unjudged by this named qrels set of the collection (default: its own)")
    p.add_argument("--unjudged-only", action="store_true",
                   help="write only the pooled documents the qrels do not judge yet (the counts still cover all)")
    p.add_argument("--output", "-o", required=True, metavar="FILE",
                   help="the pool file ('-': stdout; the counts then go to stderr)")
    add_json_arg(p)
    p.set_defaults(func=cmd_pool)
    add_check(p, _json_needs_file)


def _json_needs_file(p, args) -> None:
    if args.json and args.output == "-":
        p.error("--json prints the counts on stdout: give -o a file for the pool")


def cmd_pool(ctx, args) -> int:
    from rich.markup import escape  # rich and the services load only when the command runs (issue 21)
    from rich.table import Table

    from workbench.io.trec_writer import qrels_text
    from workbench.services.pool import build_pool

    pool = build_pool(ctx.store, args.collection, args.runs, args.depth, unjudged_only=args.unjudged_only,
                      qrels=args.qrels)
    to_stdout = args.output == "-"
    write_output(qrels_text(pool.documents), args.output)
    if args.json:
        print_json({**pool.to_dict(), "output": args.output})
        return 0
    console = err_console() if to_stdout else out_console()
    table = Table("query", "pooled", "judged", "unjudged", "relevant",
                  title=f"{pool.collection}: depth-{pool.depth} pool of {len(pool.runs)} runs")
    for r in pool.counts.to_pylist():
        table.add_row(escape(r["query_id"]), *(str(r[c]) for c in ("pooled", "judged", "unjudged", "relevant")))
    totals = pool.to_dict()["totals"]
    table.add_row("all", *(str(totals[c]) for c in ("pooled", "judged", "unjudged", "relevant")), style="bold")
    console.print(table)
    kept = "unjudged documents" if pool.unjudged_only else "documents"
    err_console().print(f"{pool.documents.num_rows} {kept} in the pool file", markup=False)
    return 0
