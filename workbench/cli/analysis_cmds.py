"""`workbench compare` and `workbench depth`: per-query wins, significance, depth scaling."""

from __future__ import annotations

from rich.table import Table

from workbench.cli.common import add_collection_arg, add_json_arg, err_console, out_console, print_json
from workbench.export.formats import CORRECTIONS
from workbench.export.formats import TESTS as _TESTS

TESTS = tuple(t for t in _TESTS if t != "none")


def _stats_args(p) -> None:
    p.add_argument("--test", choices=TESTS, default="t", help="paired test (default: t)")
    p.add_argument("--correction", choices=CORRECTIONS, default="holm", help="multiple-comparison correction")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0, help="seed of the randomisation test and bootstrap")


def register(sub) -> None:
    c = sub.add_parser("compare", help="per-query wins/ties/losses, biggest changes, win matrix, paired tests")
    add_collection_arg(c)
    c.add_argument("runs", nargs="+", help="run A, then the run(s) compared with it")
    c.add_argument("--measure", "-m", nargs="+", dest="measures", metavar="MEASURE",
                   help="measures (default: the collection's set)")
    c.add_argument("--tie-tolerance", type=float, default=0.0, help="|delta| <= this counts as a tie")
    c.add_argument("--top", type=int, default=5, help="how many biggest gains and losses to list")
    _stats_args(c)
    add_json_arg(c)
    c.set_defaults(func=cmd_compare)

    d = sub.add_parser("depth", help="how effectiveness changes as a reranker re-scores the top-k for growing k")
    add_collection_arg(d)
    d.add_argument("--reranked", "-r", required=True, help="the reranked run R (its parent/depth are stored)")
    d.add_argument("--first-stage", "-f", help="the first-stage run F (default: R's stored parent)")
    d.add_argument("--measure", "-m", nargs="+", dest="measures", default=["nDCG@10"], metavar="MEASURE")
    d.add_argument("--depths", help="comma-separated grid, e.g. 0,5,10,20,50,100 (default: 0,5,10,20,30,50,100,..K)")
    d.add_argument("--observed", nargs="+", metavar="RUN",
                   help="real reranked runs at other depths (default: found by name and parent)")
    d.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the CIs")
    d.add_argument("--phantom-k", type=int, default=10, help="list unjudged documents promoted into this top k")
    _stats_args(d)
    add_json_arg(d)
    d.set_defaults(func=cmd_depth)


def cmd_compare(ctx, args) -> int:
    from workbench.analyse import compare_runs

    result = compare_runs(ctx.store, args.collection, args.runs, args.measures, tie_tolerance=args.tie_tolerance,
                          top_n=args.top, test=args.test, correction=args.correction, alpha=args.alpha,
                          seed=args.seed)
    if args.json:
        print_json(result.to_dict())
        return 0
    con = out_console()
    sig = {(r.run, r.measure): r for r in result.significance.rows}
    a = result.runs[0]
    table = Table("run", "measure", "mean", f"mean {a}", "delta", "wins", "ties", "losses", "p", "p adj.", "",
                  title=f"each run vs {a} ({result.significance.test} test, {result.significance.correction})")
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
    from workbench.analyse import depth_study
    from workbench.errors import WorkbenchError

    depths = None
    if args.depths:
        try:
            depths = [int(x) for x in args.depths.split(",") if x.strip()]
        except ValueError:
            raise WorkbenchError(f"--depths must be comma-separated integers, got {args.depths!r}") from None
    study = depth_study(ctx.store, args.collection, args.reranked, args.measures, first_stage=args.first_stage,
                        depths=depths, observed=args.observed, n_boot=args.bootstrap, seed=args.seed,
                        test=args.test, correction=args.correction, alpha=args.alpha, phantom_k=args.phantom_k)
    if study.note:
        err_console().print(f"note: {study.note}", markup=False)
    if args.json:
        print_json(study.to_dict())
        return 0
    con = out_console()
    frame = study.table()
    judged = study.curve.judged_measure
    for measure in study.curve.measures:
        t = Table("depth", "source", measure, "95% CI", "p adj. vs depth 0", judged,
                  title=f"{study.reranked} over {study.first_stage}: {measure} by rerank depth "
                        f"(best derived depth {dict(study.curve.best_depth)[measure]})")
        for r in frame[frame["measure"] == measure].itertuples():
            p = "" if r.p_adjusted != r.p_adjusted else f"{r.p_adjusted:.4g}{' *' if r.significant else ''}"
            t.add_row(str(r.depth), r.source, f"{r.mean:.4f}", f"[{r.ci_low:.4f}, {r.ci_high:.4f}]", p,
                      f"{frame.loc[r.Index, judged]:.4f}")
        con.print(t)
    hits = study.phantom_hits
    con.print(f"phantom hits: {len(hits)} unjudged documents promoted into the top {args.phantom_k} at depth "
              f"{study.curve.k_max} (gains from them are invisible to the measures)")
    for r in hits.head(10).itertuples():
        con.print(f"  query {r.query_id}: {r.doc_id} {r.old_rank} -> {r.new_rank}", markup=False)
    return 0
