"""`workbench compare` and `workbench depth`: per-query wins, significance, depth scaling."""

from __future__ import annotations

# rich, the store and the services load inside the commands that use them: declaring the arguments (and
# `workbench --help`) must not import DuckDB, pyarrow or rich (issue 21).
from workbench.cli.common import (
    Accumulate,
    add_check,
    add_collection_arg,
    add_json_arg,
    add_measures_arg,
    add_runs_args,
    depth_list,
    err_console,
    non_negative_float,
    non_negative_int,
    out_console,
    positive_int,
    print_json,
    probability,
    resamples,
    seed,
    share,
    text,
)
from workbench.export.formats import CORRECTIONS, DEFAULT_BOOTSTRAP, DEFAULT_PERMUTATIONS
from workbench.export.formats import TESTS as _TESTS

TESTS = tuple(t for t in _TESTS if t != "none")


def _stats_args(p) -> None:
    p.add_argument("--test", choices=TESTS, default="t", help="paired test")
    p.add_argument("--correction", choices=CORRECTIONS, default="holm", help="multiple-comparison correction")
    p.add_argument("--alpha", type=probability, default=0.05, help="significance level, in (0, 1)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the randomisation test and bootstrap")
    p.add_argument("--permutations", type=resamples, default=DEFAULT_PERMUTATIONS,
                   help="permutations of the randomisation test")


def register(sub) -> None:
    c = sub.add_parser("compare", help="per-query wins/ties/losses, biggest changes, win matrix, paired tests")
    add_collection_arg(c)
    add_runs_args(c, "run A (the baseline), then the run(s) compared with it", at_least=2)
    add_measures_arg(c, "measures (default: the collection's set)")
    c.add_argument("--tie-tolerance", type=non_negative_float, default=0.0,
                   help="|delta| <= this counts as a tie")
    c.add_argument("--top", type=non_negative_int, default=5, help="how many biggest gains and losses to list")
    c.add_argument("--qrels", metavar="NAME",
                   help="compare on this named qrels set of the collection (default: its own)")
    c.add_argument("--judged-only", "-J", action="store_true",
                   help="score only the documents the qrels judge, as trec_eval -J")
    _stats_args(c)
    add_json_arg(c)
    c.set_defaults(func=cmd_compare)

    d = sub.add_parser("depth", help="how effectiveness changes as a reranker re-scores the top-k for growing k")
    add_collection_arg(d)
    d.add_argument("reranked", nargs="?", metavar="RERANKED",
                   help="the reranked run R (its parent and depth are stored)")
    d.add_argument("--reranked", dest="reranked_option", metavar="RUN", help="the same, as an option")
    d.add_argument("--first-stage", "-f", metavar="RUN", help="the first-stage run F (default: R's stored parent)")
    add_measures_arg(d, "measures", default=["nDCG@10"])
    d.add_argument("--depths", type=depth_list,
                   help="comma-separated grid, e.g. 0,5,10,20,50,100; depth 0 (the first stage, which every depth "
                        "is tested against) is always included (default: 0,5,10,20,30,50,100,... up to R's depth)")
    d.add_argument("--observed", nargs="+", action=Accumulate, metavar="RUN",
                   help="real reranked runs at other depths (default: found by name and parent)")
    d.add_argument("--bootstrap", type=resamples, default=DEFAULT_BOOTSTRAP, help="bootstrap samples for the CIs")
    d.add_argument("--phantom-k", type=positive_int, default=10,
                   help="list unjudged documents promoted into this top k")
    d.add_argument("--qrels", metavar="NAME",
                   help="score against this named qrels set of the collection (default: its own)")
    d.add_argument("--bounds", action="store_true",
                   help="beside each derived depth's value (unjudged documents as non-relevant), its value with the "
                        "unjudged documents within the measure's cutoff relevant at the top grade, as leaderboard "
                        "--bounds")
    d.add_argument("--gain-share", type=share, metavar="SHARE",
                   help="report the smallest depth reaching this share of the largest gain over the first stage, in "
                        "(0, 1] (default: 0.9 when a cost is given or stated, else no report)")
    d.add_argument("--cost-per-doc", type=non_negative_float, metavar="COST",
                   help="what reranking one document costs (default: cost_per_doc in the reranked run's ir_metadata "
                        "header, if any); turns on the smallest-depth report with its cost")
    d.add_argument("--cost-unit", type=text, metavar="UNIT",
                   help="the unit of --cost-per-doc, e.g. s, GPU-s, USD (default: s)")
    _stats_args(d)
    add_json_arg(d)
    d.set_defaults(func=cmd_depth)
    add_check(d, _one_reranked)
    add_check(d, _unit_with_cost)


def _one_reranked(p, args) -> None:
    """RERANKED as an argument or with --reranked (its spelling before -r came to mean --runs everywhere)."""
    if args.reranked and args.reranked_option:
        p.error("give the reranked run as an argument or with --reranked, not both")
    args.reranked = args.reranked or args.reranked_option
    if not args.reranked:
        p.error("the reranked run is required: workbench depth -c COLLECTION RERANKED")


def _unit_with_cost(p, args) -> None:
    if args.cost_unit is not None and args.cost_per_doc is None:
        p.error("--cost-unit names the unit of --cost-per-doc: give --cost-per-doc too (a cost stated in the run's "
                "ir_metadata names its own unit, cost_unit)")


def cmd_compare(ctx, args) -> int:
    from rich.table import Table

    from workbench.services.compare import compare_runs

    result = compare_runs(ctx.store, args.collection, args.runs, args.measures, tie_tolerance=args.tie_tolerance,
                          top_n=args.top, test=args.test, correction=args.correction, alpha=args.alpha,
                          seed=args.seed, n_resamples=args.permutations, qrels=args.qrels,
                          judged_only=args.judged_only)
    if args.json:
        print_json(result.to_dict())
        return 0
    con = out_console()
    sig = {(r.run, r.measure): r for r in result.significance.rows}
    a = result.runs[0]
    table = Table("run", "measure", "mean", f"mean {a}", "delta", "wins", "ties", "losses", "p", "p adj.", "",
                  title=f"each run vs the baseline {a}", caption=f"* significant. {result.legend()}")
    for p in result.pairs:
        s = sig[(p.run_a, p.measure)]
        table.add_row(p.run_a, p.measure, f"{p.mean_a:.4f}", f"{p.mean_b:.4f}", f"{p.mean_delta:+.4f}", str(p.wins),
                      str(p.ties), str(p.losses), f"{s.p_value:.4g}", f"{s.p_adjusted:.4g}",
                      "*" if s.significant else "")
    con.print(table)
    for p in result.pairs:
        gains = ", ".join(f"{d.query_id} ({d.delta:+.4f})" for d in p.top_gains) or "none"
        losses = ", ".join(f"{d.query_id} ({d.delta:+.4f})" for d in p.top_losses) or "none"
        con.print(f"{p.run_a} vs {a} on {p.measure}: biggest gains {gains}; biggest losses {losses}", markup=False)
    for m in result.matrices:
        t = Table("wins of row over column", *m.runs, title=f"win matrix on {m.measure}")
        for i, run in enumerate(m.runs):
            t.add_row(run, *["-" if i == j else f"{m.wins[i][j]}/{m.ties[i][j]}/{m.losses[i][j]}"
                             for j in range(len(m.runs))])
        con.print(t)
    return 0


def cmd_depth(ctx, args) -> int:
    from workbench.services.depth import depth_study

    study = depth_study(ctx.store, args.collection, args.reranked, args.measures, first_stage=args.first_stage,
                        depths=args.depths, observed=args.observed, n_boot=args.bootstrap, seed=args.seed,
                        test=args.test, correction=args.correction, alpha=args.alpha, phantom_k=args.phantom_k,
                        n_resamples=args.permutations, qrels=args.qrels, bounds=args.bounds,
                        gain_share=args.gain_share, cost_per_doc=args.cost_per_doc, cost_unit=args.cost_unit)
    if study.note:
        err_console().print(f"note: {study.note}", markup=False)
    if args.json:
        print_json(study.to_dict())
        return 0
    con = out_console()
    if study.qrels:
        con.print(f"qrels: {study.qrels} (sha256 {(study.qrels_hash or '')[:12]})", markup=False)
    smallest, best, frame = study.smallest(), study.best(), study.table()
    for measure in study.measures:  # the names asked for (ndcg_cut_10), as the table and best() name them
        con.print(_depth_table(study, frame, best[measure].first_stage_mean, measure))
        con.print(best[measure].sentence(study.first_stage), markup=False)
        if measure in smallest:
            con.print(smallest[measure].sentence(study.first_stage), markup=False)
    hits = study.phantom_hits
    con.print(f"phantom hits: {len(hits)} unjudged documents promoted into the top {args.phantom_k} at depth "
              f"{study.curve.k_max} (gains from them are invisible to the measures)")
    for r in hits.head(10).itertuples():
        con.print(f"  query {r.query_id}: {r.doc_id} {r.old_rank} -> {r.new_rank}", markup=False)
    return 0


def _depth_table(study, frame, first_mean: float, measure: str):
    """The rich table of one measure by depth (`frame`: study.table()), with the bounds' column when the study has
    them."""
    from rich.table import Table

    judged = study.judged_measure
    bound = [f"{measure} if unjudged relevant"] if study.bounds is not None else []
    t = Table("depth", "source", measure, *bound, "95% CI", f"delta vs {study.first_stage} (95% CI)",
              "p adj. vs depth 0", judged,
              title=f"{study.reranked} over {study.first_stage}: {measure} by rerank depth",
              caption=f"* significant. {study.legend()}")
    for r in frame[frame["measure"] == measure].itertuples():
        p = "" if r.p_adjusted != r.p_adjusted else f"{r.p_adjusted:.4g}{' *' if r.significant else ''}"
        delta = "" if r.source == "derived" and r.depth == 0 else (
            f"{r.mean - first_mean:+.4f} [{r.delta_ci_low:+.4f}, {r.delta_ci_high:+.4f}]")
        high = study.bound(measure, int(r.depth)) if r.source == "derived" else None
        shown = [] if not bound else ["" if high is None else f"{high:.4f}"]
        t.add_row(str(r.depth), r.source, f"{r.mean:.4f}", *shown, f"[{r.ci_low:.4f}, {r.ci_high:.4f}]", delta, p,
                  f"{frame.loc[r.Index, judged]:.4f}")
    return t
