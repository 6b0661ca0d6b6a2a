"""`workbench collection add|list|show|remove`."""

from __future__ import annotations

from workbench.cli.common import (
    Accumulate,
    add_check,
    add_json_arg,
    add_measures_arg,
    err_console,
    out_console,
    print_json,
    resamples,
    seed,
)
from workbench.errors import WorkbenchError
from workbench.export.formats import DEFAULT_BOOTSTRAP
from workbench.kinds import DEFAULT_TOPIC_FIELD, TOPIC_FIELDS

# rich, the store and the services load inside the commands that use them: declaring the arguments (and
# `workbench --help`) must not import DuckDB, pyarrow or rich (issue 21).


def register(sub) -> None:
    p = sub.add_parser("collection", help="add, list, show or remove collections (qrels, topics, documents)")
    csub = p.add_subparsers(dest="collection_command", metavar="ACTION")
    csub.required = True

    a = csub.add_parser("add", help="add a collection from local files or an ir_datasets id")
    a.add_argument("name", help="the collection's name")
    a.add_argument("--qrels", help="TREC qrels (qid iter docid rel) or BEIR qrels TSV with header")
    a.add_argument("--topics", help="topics: TSV (qid<TAB>text), BEIR queries.jsonl, a TREC topic file "
                   "(<top> or XML <topic>) or SMART queries (.I/.W)")
    a.add_argument("--docs", nargs="+", action=Accumulate, metavar="PATH",
                   help="documents: files or folders of TREC SGML (<DOC><DOCNO>), BEIR corpus.jsonl, TSV "
                        "(docid<TAB>text) or SMART (.I/.T/.W); gzip is fine")
    a.add_argument("--topic-field", choices=TOPIC_FIELDS, default=DEFAULT_TOPIC_FIELD,
                   help="what the query text of TREC topics is made of (default: title)")
    a.add_argument("--grade-map", metavar="MAP",
                   help='replace the qrels grades as they are read, e.g. "1:3,2:2,3:1,4:0,-1:0" (every grade '
                        "the qrels hold must be mapped); recorded with the collection")
    a.add_argument("--ir-datasets", metavar="ID", help="an ir_datasets id, e.g. beir/scifact/test")
    a.add_argument("--no-docs", action="store_true", help="with --ir-datasets: do not load documents")
    a.add_argument("--relevance", choices=["graded", "binary"],
                   help="graded (TREC DL defaults) or binary (BEIR defaults); inferred from the grades if omitted")
    a.add_argument("--replace", action="store_true", help="replace a collection of that name with other content")
    add_json_arg(a)
    a.set_defaults(func=cmd_add)

    ls = csub.add_parser("list", help="list collections")
    add_json_arg(ls)
    ls.set_defaults(func=cmd_list)

    sh = csub.add_parser("show", help="show one collection")
    sh.add_argument("name", help="the collection")
    add_json_arg(sh)
    sh.set_defaults(func=cmd_show)

    rm = csub.add_parser("remove", help="remove a collection with its runs (asks for --yes)")
    rm.add_argument("name", help="the collection")
    rm.add_argument("--yes", action="store_true", help="really remove it")
    rm.set_defaults(func=cmd_remove)

    q = csub.add_parser("qrels", help="several qrels per collection: add, list or remove named judgment sets")
    qsub = q.add_subparsers(dest="qrels_command", metavar="ACTION")
    qsub.required = True
    qa = qsub.add_parser("add", help="store a qrels file as a named set of the collection's judgments")
    qa.add_argument("collection", help="the collection")
    qa.add_argument("name", help="the set's name (e.g. nist, llm, v2; 'default' is the collection's own qrels)")
    qa.add_argument("file", help="TREC qrels (qid iter docid rel) or BEIR qrels TSV with header")
    qa.add_argument("--grade-map", metavar="MAP", help='replace the grades as they are read, e.g. "1:3,2:2,-1:0"')
    qa.add_argument("--replace", action="store_true", help="replace a set of that name with other content")
    add_json_arg(qa)
    qa.set_defaults(func=cmd_qrels_add)
    ql = qsub.add_parser("list", help="the collection's qrels: its own ('default') and the named sets")
    ql.add_argument("collection", help="the collection")
    add_json_arg(ql)
    ql.set_defaults(func=cmd_qrels_list)
    qr = qsub.add_parser("remove", help="remove a named set (asks for --yes; its scores stay, keyed by content)")
    qr.add_argument("collection", help="the collection")
    qr.add_argument("name", help="the set")
    qr.add_argument("--yes", action="store_true", help="really remove it")
    qr.set_defaults(func=cmd_qrels_remove)
    qg = qsub.add_parser("agree", help="agreement of two qrels: Cohen's kappa on the pairs both judge, Kendall's "
                         "tau and tau-AP between the system rankings they induce, with bootstrap CIs")
    qg.add_argument("collection", help="the collection")
    qg.add_argument("qrels_a", metavar="A",
                    help="a qrels set ('default': the collection's own); tau-AP takes it as truth")
    qg.add_argument("qrels_b", metavar="B", help="the other qrels set")
    add_measures_arg(qg, "the one measure that ranks the runs (default: the collection's first)")
    qg.add_argument("--runs", "-r", nargs="+", action=Accumulate, metavar="RUN", help="runs to rank (default: all)")
    qg.add_argument("--bootstrap", type=resamples, default=DEFAULT_BOOTSTRAP,
                    help="bootstrap samples over queries for the CIs")
    qg.add_argument("--seed", type=seed, default=0, help="seed of the bootstrap")
    add_json_arg(qg)
    qg.set_defaults(func=cmd_qrels_agree)
    add_check(qg, _one_measure)


def _one_measure(p, args) -> None:
    if args.measures and len(args.measures) > 1:
        p.error("agree ranks the runs by one measure: give one to -m")


def cmd_add(ctx, args) -> int:
    from rich.markup import escape

    from workbench.services.collection import add_collection, report_of

    if not args.ir_datasets and not args.qrels:
        raise WorkbenchError("collection add needs --qrels FILE or --ir-datasets ID")
    if args.ir_datasets and (args.qrels or args.topics or args.docs):
        raise WorkbenchError("use either --ir-datasets or local files (--qrels/--topics/--docs), not both")
    info, changed = add_collection(
        ctx.store, args.name, qrels=args.qrels, topics=args.topics, docs=args.docs,
        ir_datasets_id=args.ir_datasets, with_docs=not args.no_docs, relevance_kind=args.relevance,
        replace=args.replace, topic_field=args.topic_field, grade_map=args.grade_map,
    )
    report = report_of(ctx.store, info)
    if args.json:
        print_json({**info.to_dict(), "report": report.to_dict(), "changed": changed})
    else:
        verb = "added" if changed else "unchanged (same content)"
        err_console().print(
            f"collection [bold]{escape(info.name)}[/] {verb}: {info.n_queries} judged queries, {info.n_judgments} "
            f"judgments ({info.relevance_kind}), {info.n_topics} topics, {info.n_docs} documents"
        )
        _print_report(report)
    return 0


def _print_report(report) -> None:
    """The report on stdout, its warnings also on stderr (seen when stdout goes to a file)."""
    for line in report.lines():
        if not line.startswith("warning: "):
            out_console().print(line, markup=False)
    print_collection_warnings(report.warnings)


def warn_collection(ctx, name: str, qrels: str | None = None) -> None:
    """After a command that scored `name` (against its qrels set `qrels`, if named): what the report found off,
    one stderr line each (never an error of its own: the command has done its work)."""
    from workbench.services.collection import collection_warnings

    if isinstance(name, str):
        try:
            warnings = collection_warnings(ctx.store, name, qrels if isinstance(qrels, str) else None)
        except WorkbenchError:
            return
        print_collection_warnings(warnings, name)


def print_collection_warnings(warnings, name: str | None = None) -> None:
    where = f"collection {name}: " if name else ""
    for w in warnings:
        err_console().print(f"warning: {where}{w}", markup=False, style="yellow")


def cmd_list(ctx, args) -> int:
    from rich.table import Table

    from workbench.store import list_collections

    infos = list_collections(ctx.store)
    if args.json:
        print_json([i.to_dict() for i in infos])
        return 0
    table = Table("collection", "relevance", "judged queries", "judgments", "topics", "documents", "qrels sha256")
    for i in infos:
        table.add_row(i.name, i.relevance_kind, str(i.n_queries), str(i.n_judgments), str(i.n_topics),
                      str(i.n_docs), i.qrels_hash[:12])
    out_console().print(table)
    return 0


def cmd_show(ctx, args) -> int:
    from workbench.services.collection import report_of
    from workbench.store import get_collection

    info = get_collection(ctx.store, args.name)
    report = report_of(ctx.store, info)
    if args.json:
        print_json({**info.to_dict(), "report": report.to_dict(), "warnings": list(report.warnings)})
    else:
        for k, v in info.to_dict().items():
            if k not in ("report", "warnings"):
                out_console().print(f"{k:15} {v}", markup=False)
        _print_report(report)
    return 0


def cmd_remove(ctx, args) -> int:
    from workbench.store import delete_collection, get_collection

    get_collection(ctx.store, args.name)  # a name that is not there is said so, before asking for --yes
    if not args.yes:
        raise WorkbenchError(f"removing collection {args.name!r} deletes its runs and scores; add --yes to confirm")
    delete_collection(ctx.store, args.name)
    err_console().print(f"removed collection {args.name}")
    return 0


def cmd_qrels_add(ctx, args) -> int:
    from rich.markup import escape

    from workbench.services.collection import add_qrels_set, qrels_set_warnings

    info, changed = add_qrels_set(ctx.store, args.collection, args.name, args.file, grade_map=args.grade_map,
                                  replace=args.replace)
    warnings = qrels_set_warnings(ctx.store, args.collection, args.name)
    print_collection_warnings(warnings)
    if args.json:
        print_json({**info.to_dict(), "changed": changed, "warnings": warnings})
    else:
        verb = "added" if changed else "unchanged (same content)"
        err_console().print(f"qrels [bold]{escape(info.name)}[/] of collection {escape(info.collection)} {verb}: "
                            f"{info.n_queries} judged queries, {info.n_judgments} judgments, "
                            f"sha256 {info.qrels_hash[:12]}")
    return 0


def cmd_qrels_list(ctx, args) -> int:
    from rich.markup import escape
    from rich.table import Table

    from workbench.services.collection import qrels_of

    rows = qrels_of(ctx.store, args.collection)
    if args.json:
        print_json(rows)
        return 0
    table = Table("qrels", "judged queries", "judgments", "sha256", "source")
    for r in rows:
        table.add_row(escape(r["name"]), str(r["n_queries"]), str(r["n_judgments"]), r["qrels_hash"][:12],
                      escape(str(r["source"])))
    out_console().print(table)
    return 0


def cmd_qrels_remove(ctx, args) -> int:
    from workbench.services.collection import remove_qrels_set

    remove_qrels_set(ctx.store, args.collection, args.name, confirmed=args.yes)
    err_console().print(f"removed qrels {args.name} of collection {args.collection}", markup=False)
    return 0


def cmd_qrels_agree(ctx, args) -> int:
    from rich.markup import escape
    from rich.table import Table

    from workbench.services.agreement import qrels_agreement

    result = qrels_agreement(ctx.store, args.collection, args.qrels_a, args.qrels_b,
                             measure=args.measures[0] if args.measures else None, runs=args.runs,
                             n_resamples=args.bootstrap, seed=args.seed)
    if args.json:
        print_json(result.to_dict())
        return 0

    def shown(e) -> str:
        if e.value is None:
            return "undefined"
        ci = f" [{e.ci_low:.4f}, {e.ci_high:.4f}]" if e.ci_low is not None else ""
        return f"{e.value:.4f}{ci}"

    con = out_console()
    a, b = result.qrels
    con.print(f"{result.collection}: qrels {a} vs {b}; 95% bootstrap CIs over queries ({result.n_resamples:,} "
              f"samples, seed {result.seed})", markup=False)
    con.print(f"judgments: {result.n_pairs} (query, document) pairs judged by both, over {result.n_pair_queries} "
              f"queries; Cohen's kappa {shown(result.kappa)} on the grades, {shown(result.kappa_binary)} on "
              "relevant (grade >= 1) or not", markup=False)
    con.print(f"rankings of {len(result.runs)} runs by {result.measure}: Kendall's tau {shown(result.tau)}, "
              f"tau-AP of {b} against {a} {shown(result.tau_ap)}", markup=False)
    table = Table("run", f"{result.measure} ({a})", f"{result.measure} ({b})")
    for run, (x, y) in sorted(result.means.items(), key=lambda kv: -kv[1][0]):
        table.add_row(escape(run), f"{x:.4f}", f"{y:.4f}")
    con.print(table)
    return 0
