"""`workbench evaluate`, `workbench export scores`, `workbench leaderboard`."""

from __future__ import annotations

# rich, the store and the services load inside the commands that use them: declaring the arguments (and
# `workbench --help`) must not import DuckDB, pyarrow or rich (issue 21).
from workbench.cli import lake_cmds
from workbench.cli.common import (
    Accumulate,
    add_check,
    add_collection_arg,
    add_json_arg,
    add_measures_arg,
    out_console,
    print_json,
    probability,
    progress,
    resamples,
    seed,
    write_output,
)
from workbench.export.formats import (
    CORRECTIONS,
    DEFAULT_BOOTSTRAP,
    DEFAULT_PERMUTATIONS,
    FORMATS,
    RANK_BY,
    SCORE_FORMATS,
    TESTS,
)

# evaluate/export/leaderboard load pandas; they are imported inside the commands that use them


def add_eval_args(p) -> None:
    add_collection_arg(p)
    add_measures_arg(p, 'ir-measures strings, e.g. nDCG@10 "AP(rel=2)" (default: the collection\'s set)')
    p.add_argument("--runs", "-r", nargs="+", action=Accumulate, metavar="RUN", help="runs to include (default: all)")
    p.add_argument("--qrels", metavar="NAME",
                   help="score against this named qrels set of the collection (`collection qrels list`; default: "
                        "its own); scores are keyed by the set's content")
    p.add_argument("--judged-only", "-J", action="store_true",
                   help="score only the documents the qrels judge (grade >= 0), each ranking condensed as "
                        "trec_eval -J does; stored under a semantics of its own")


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="score runs (per-query values are stored; nothing is scored twice)")
    add_eval_args(p)
    add_json_arg(p)
    p.add_argument("--per-query", action="store_true", help="print per-query values, trec_eval -q style")
    lake_cmds.add_engine_args(p, lake=True)
    p.set_defaults(func=cmd_evaluate)

    ex = sub.add_parser("export", help="export scores")
    exsub = ex.add_subparsers(dest="export_command", metavar="WHAT")
    exsub.required = True
    s = exsub.add_parser("scores", help="per-query or aggregate scores as csv/jsonl/parquet "
                         "(run,query_id,measure,value)")
    add_eval_args(s)
    s.add_argument("--per-query", action="store_true", help="one row per query (default: aggregates, query_id 'all')")
    s.add_argument("--format", "-f", choices=SCORE_FORMATS, default="csv", help="file format")
    s.add_argument("--output", "-o", help="output file (default: stdout; parquet needs a file)")
    s.set_defaults(func=cmd_export_scores)

    lb = sub.add_parser("leaderboard", help="a leaderboard as markdown/csv/latex/html/json (of a collection, or of "
                        "a benchmark: systems x collections)")
    add_eval_args(lb)
    _collection_or_benchmark(lb)
    lb.add_argument("--baseline", "-b", nargs="+", action=Accumulate, default=[], metavar="RUN",
                    help="baseline run(s): deltas and significance marks against each")
    lb.add_argument("--test", choices=TESTS, default="t", help="paired test against the baselines (default: t)")
    lb.add_argument("--correction", choices=CORRECTIONS, default="holm",
                    help="multiple-comparison correction across the table (default: holm)")
    lb.add_argument("--alpha", type=probability, default=0.05, help="significance level, in (0, 1)")
    lb.add_argument("--permutations", type=resamples, default=DEFAULT_PERMUTATIONS,
                    help="permutations of the randomisation test, bootstrap samples of the CIs")
    lb.add_argument("--ci", action="store_true",
                    help="add 95%% bootstrap CI columns of the delta to the first baseline")
    lb.add_argument("--bounds", action="store_true",
                    help="beside each value (unjudged documents as non-relevant, trec_eval's default), the value "
                         "with each run's unjudged documents within the measure's cutoff relevant at the "
                         "qrels' top grade: how far the holes in the qrels could move it")
    lb.add_argument("--sort-by", help="measure to sort runs by (default: the first)")
    lb.add_argument("--format", "-f", choices=FORMATS, default="markdown", help="output format")
    lb.add_argument("--output", "-o", help="output file (default: stdout)")
    lb.set_defaults(func=cmd_leaderboard)
    add_check(lb, _bounds_not_judged_only)
    add_check(lb, _benchmark_options)


def _collection_or_benchmark(lb) -> None:
    """`--benchmark NAME` instead of -c: one measure over a benchmark's collections (docs/benchmarks.md)."""
    next(a for a in lb._actions if a.dest == "collection").required = False
    lb.add_argument("--benchmark", metavar="NAME",
                    help="instead of -c: rank systems over the benchmark's collections on one measure (-m), with "
                         "the mean over collections, the mean rank, the Borda count and a bootstrap interval of "
                         "each system's rank; -r then names systems")
    lb.add_argument("--system", action="append", metavar="MAP", dest="system_map",
                    help="with --benchmark: COLLECTION:RUN=SYSTEM (repeat it), or a file of `collection run system` "
                         "lines; the run stands for that system in that collection (default: runs are matched to "
                         "systems by name)")
    lb.add_argument("--rank-by", choices=RANK_BY, default="mean",
                    help="with --benchmark: what orders the systems (mean over collections, Borda count, mean rank)")
    lb.add_argument("--bootstrap", type=resamples, default=DEFAULT_BOOTSTRAP,
                    help="with --benchmark: bootstrap samples of the rank intervals (queries resampled within each "
                         "collection)")
    lb.add_argument("--seed", type=seed, default=0, help="seed of the bootstrap and the randomisation test")


_NOT_WITH_BENCHMARK = {"baseline": "--baseline", "bounds": "--bounds", "ci": "--ci", "judged_only": "--judged-only",
                       "qrels": "--qrels", "sort_by": "--sort-by"}


def _benchmark_options(p, args) -> None:
    if (args.collection is None) == (args.benchmark is None):
        p.error("give a collection (-c) or a benchmark (--benchmark), one of them")
    if args.benchmark is None:
        if args.system_map:
            p.error("--system maps runs to systems of a benchmark: give --benchmark")
        return
    given = [flag for dest, flag in _NOT_WITH_BENCHMARK.items() if getattr(args, dest)]
    if given:
        p.error(f"{given[0]} is for the leaderboard of one collection, not with --benchmark")
    if not args.measures or len(args.measures) != 1:
        p.error("--benchmark ranks systems on one measure: give it with -m, e.g. -m nDCG@10")


def _bounds_not_judged_only(p, args) -> None:
    if args.bounds and args.judged_only:
        p.error("--bounds treats unjudged documents as non-relevant and as relevant; --judged-only drops them: "
                "give one of them")


def _evaluate(ctx, args, unjudged: str | None = None):
    from workbench.scoring import parse_request
    from workbench.services.evaluate import evaluate_runs

    skipped = parse_request(args.measures).skipped if args.measures else ()
    if skipped:  # a trec_eval nickname (official, all_trec) brought measures ir-measures cannot express
        from workbench.cli.common import err_console

        err_console().print(f"note: left out, ir-measures cannot express them: {', '.join(skipped)}", markup=False)

    with progress() as bar:
        task = bar.add_task("scoring", total=None)

        def on_run(name: str, i: int, n: int) -> None:
            bar.update(task, completed=i, total=n, description=f"scoring {name}")

        return evaluate_runs(ctx.store, args.collection, args.measures, args.runs, on_run=on_run,
                             unjudged=unjudged or ("judged-only" if args.judged_only else "nonrelevant"),
                             qrels=args.qrels)


def cmd_evaluate(ctx, args) -> int:
    from rich.table import Table

    from workbench.export import score_frame
    from workbench.scoring import is_summed

    if args.lake and (args.judged_only or args.qrels):
        from workbench.errors import WorkbenchError

        raise WorkbenchError("--judged-only and --qrels are not available with --lake yet; score the store instead")
    ev, extra = lake_cmds.evaluate_on_lake(ctx, args) if args.lake else (_evaluate(ctx, args), {})
    agg = ev.aggregate()
    if args.json:
        frame = (score_frame(ev.per_query, canonical=ev.canonical) if args.per_query
                 else score_frame(ev.per_query, agg, canonical=ev.canonical))
        print_json({"collection": ev.collection, **({"qrels": ev.qrels} if ev.qrels else {}),
                    "qrels_hash": ev.qrels_hash, "semantics": ev.semantics,
                    "evaluators": ev.evaluators(), "computed": ev.computed,
                    "scores": frame.to_dict(orient="records"), **extra})
        return 0
    summed = {m: is_summed(ev.canonical_name(m)) for m in ev.measures}
    if args.per_query:
        _print_trec_eval(ev, agg, summed)
        return 0
    pivot = agg.pivot(index="run", columns="measure", values="value")[list(ev.measures)]
    pivot = pivot.sort_values(ev.measures[0], ascending=False)
    table = Table("run", *ev.measures, title=f"{ev.collection}: {len(ev.runs)} runs")
    for run, row in pivot.iterrows():
        table.add_row(run, *[str(int(v)) if summed[m] else f"{v:.4f}" for m, v in row.items()])
    out_console().print(table)
    against = f"qrels: {ev.qrels} (sha256 {ev.qrels_hash[:12]}); " if ev.qrels else ""
    out_console().print(f"{against}semantics: {ev.semantics}; scored now: {ev.computed} (run, measure) pairs",
                        style="dim", markup=False)
    return 0


def _print_trec_eval(ev, agg, summed: dict[str, bool]) -> None:
    """trec_eval -q's layout with a run column: each run's queries (measures in the order asked), then `all`."""
    import sys

    from workbench.export.trec_eval import line, value_text

    order = {m: i for i, m in enumerate(ev.measures)}
    per_query = ev.per_query.assign(_m=ev.per_query["measure"].map(order)).sort_values(["run", "query_id", "_m"])
    means = {(r.run, r.measure): r.value for r in agg.itertuples()}
    out = []
    for run, rows in per_query.groupby("run", sort=True):
        out += [line(m, q, value_text(v, summed[m]), run) for m, q, v in
                zip(rows["measure"], rows["query_id"], rows["value"], strict=True)
                if ev.canonical_name(m) != "NumQ"]  # trec_eval prints num_q in the `all` lines only
        out += [line(m, "all", value_text(means[(run, m)], summed[m]), run) for m in ev.measures
                if (run, m) in means]
    sys.stdout.write("".join(out))


def cmd_export_scores(ctx, args) -> int:
    from workbench.export import score_frame, write_scores

    ev = _evaluate(ctx, args)
    frame = (score_frame(ev.per_query, canonical=ev.canonical) if args.per_query
             else score_frame(ev.per_query, ev.aggregate(), canonical=ev.canonical))
    output = None if args.output == "-" else args.output  # `-o -` is stdout, as for leaderboard (write_output)
    text = write_scores(frame, output, args.format)
    if text is not None:
        write_output(text, None)
    elif output:
        from workbench.cli.common import err_console

        err_console().print(f"wrote {args.output} ({len(frame)} rows)")
    return 0


def cmd_leaderboard(ctx, args) -> int:
    from workbench.export import render
    from workbench.services.leaderboard import build_leaderboard

    if args.benchmark is not None:
        return _benchmark_leaderboard(ctx, args)
    ev = _evaluate(ctx, args)
    high = _evaluate(ctx, args, "relevant") if args.bounds else None
    lb = build_leaderboard(ev, baselines=args.baseline, test=args.test, correction=args.correction,
                           alpha=args.alpha, show_ci=args.ci, sort_by=args.sort_by, n_resamples=args.permutations,
                           unjudged_relevant=high, seed=args.seed)
    write_output(render(lb, args.format), args.output)
    return 0


def _benchmark_leaderboard(ctx, args) -> int:
    from workbench.services.benchmark import benchmark_leaderboard

    with progress() as bar:
        bar.add_task("scoring the benchmark's runs", total=None)
        board = benchmark_leaderboard(ctx.store, args.benchmark, args.measures[0], systems=args.runs,
                                      mapping=args.system_map or (), rank_by=args.rank_by, n_resamples=args.bootstrap,
                                      seed=args.seed)
    write_output(board.render(args.format), args.output)
    return 0
