"""`workbench eval QRELS RUN [RUN ...]`: trec_eval's job, without a store (nothing is created or written).

Options a trec_eval user types work as in trec_eval, and may come before the files (`eval -q -m map qrels run`:
then each -m takes one value, as trec_eval's does). Heavy imports happen inside the command.
"""

from __future__ import annotations

import argparse
import sys

from workbench.cli.common import add_custom_measures_arg, positive_int

FORMATS = ("text", "json", "csv")


class _Measures(argparse.Action):
    """-m/--measures: one or more values per occurrence, occurrences add up; each occurrence is remembered so
    that `-m map qrels run` (trec_eval's order: options first) can give the files back (see `_files`)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        groups = list(getattr(namespace, "measure_groups", None) or [])
        groups.append(list(values))
        namespace.measure_groups = groups
        setattr(namespace, self.dest, [v for g in groups for v in g])


def register(sub) -> None:
    p = sub.add_parser(
        "eval", help="score run files against a qrels file like trec_eval (no store: nothing is written)",
        usage="workbench eval [-h] [-m MEASURE [MEASURE ...]] [-q] [-n] [-c] [-l N] [-M N] [-J] "
              "[--format {text,json,csv}] [--allow-trailing-fields] [--custom-measures FILE] "
              "QRELS RUN [RUN ...]",
        description="Score TREC run files against a qrels file and print trec_eval's layout "
                    "(measure<TAB>query<TAB>value, `all` lines last; a run column first when several runs). "
                    "Files are read and checked as `collection add` and `ingest` read them, and scored as the "
                    "store scores them. Semantics are trec_eval -c: judged queries missing from a run score 0 "
                    "and count in the mean; run queries without judgments are not scored.")
    p.add_argument("files", nargs="*", metavar="QRELS RUN", help="the qrels file, then one or more run files")
    p.add_argument("-m", "--measures", action=_Measures, nargs="+", metavar="MEASURE", default=None,
                   help="measures in ir-measures (nDCG@10, AP(rel=2)) or trec_eval spelling (map, ndcg_cut.10, "
                        "P.5,10, recall.1000, recip_rank, all_trec, official); repeatable "
                        "(default: official, as trec_eval)")
    p.add_argument("-q", "--per-query", action="store_true",
                   help="per-query values before the `all` lines (trec_eval -q)")
    p.add_argument("-n", "--no-summary", action="store_true", help="leave out the `all` lines (trec_eval -n)")
    p.add_argument("-c", dest="complete", action="store_true",
                   help="accepted for trec_eval compatibility; -c is always on here (judged queries missing "
                        "from a run score 0 and count in the mean)")
    p.add_argument("-l", "--relevance-level", type=positive_int, metavar="N", default=None,
                   help="lowest grade that counts as relevant for binary measures that do not give rel= "
                        "(trec_eval -l; default: 1); nDCG uses the grades as gains either way")
    p.add_argument("-M", "--max-per-query", type=positive_int, metavar="N", default=None,
                   help="score only each query's first N documents in trec_eval order (trec_eval -M; "
                        "default: all)")
    p.add_argument("-J", "--judged-only", action="store_true",
                   help="score only the documents the qrels judge (grade >= 0), each query's ranking condensed "
                        "after -M (trec_eval -J); relevant counts still come from the whole qrels")
    p.add_argument("--format", "-f", choices=FORMATS, default="text",
                   help="text: trec_eval's lines; json: every value at full precision with the canonical "
                        "ir-measures name; csv: run,query_id,measure,value (default: text)")
    p.add_argument("--allow-trailing-fields", action="store_true",
                   help="accept text after a run line's 6th field, as trec_eval does (default: refused, as ingest)")
    add_custom_measures_arg(p)
    p.set_defaults(func=cmd_eval, measure_groups=[])


def _files(args) -> list[str]:
    """QRELS and RUNs, taking back what `-m map qrels run` (options first) gave the last -m: the values after
    its last measure name (`-m map P.5 qrels run`), else all but its first (trec_eval's -m takes one value)."""
    files = list(args.files)
    groups = args.measure_groups
    if len(files) < 2 and groups and len(groups[-1]) > 1:
        last = groups[-1]
        keep = len(last)
        while keep > 1 and not _is_measure(last[keep - 1]):
            keep -= 1
        if len(files) + len(last) - keep < 2:
            keep = 1
        files += last[keep:]
        groups[-1] = last[:keep]
        args.measures = [v for g in groups for v in g]
    if len(files) < 2:
        from workbench.errors import WorkbenchError

        raise WorkbenchError("give a qrels file and at least one run file: workbench eval QRELS RUN [RUN ...]")
    return files


def _is_measure(text: str) -> bool:
    from workbench.errors import WorkbenchError
    from workbench.scoring import named_measures

    try:
        named_measures([text])
    except WorkbenchError:
        return False
    return True


def _pyarrow_without_pandas() -> None:
    """pyarrow imports pandas (0.2 s of this command's 0.3 s budget) the first time it converts a Python value,
    only to ask whether the value is a pandas object; nothing on this path is. Let that first look find no pandas.
    pyarrow asks again, and imports it, when something really needs pandas (`to_pandas()`), but from then on it
    takes a pandas Series for a plain sequence (NaN, not null): so only in a process started for this command
    (the console script, `python -m workbench.cli.main`), never inside a program that calls `main()`."""
    from pathlib import Path

    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    started_for_us = argv0 is not None and (
        argv0.name == "workbench" or argv0.resolve() == Path(__file__).resolve().with_name("main.py"))
    if "pandas" in sys.modules or not started_for_us:
        return

    class _NoPandas:
        def find_spec(self, name, path=None, target=None):
            if name == "pandas":
                raise ModuleNotFoundError("pandas is not needed here", name=name)

    finder = _NoPandas()
    sys.meta_path.insert(0, finder)
    try:
        import pyarrow as pa

        pa.array([0])
    finally:
        sys.meta_path.remove(finder)


def cmd_eval(ctx, args) -> int:
    files = _files(args)
    _pyarrow_without_pandas()
    from workbench.services.quick import evaluate_files

    result = evaluate_files(files[0], files[1:], args.measures, relevance_level=args.relevance_level,
                            max_per_query=args.max_per_query, allow_trailing_fields=args.allow_trailing_fields,
                            judged_only=args.judged_only)
    for run in result.runs:
        for warning in run.warnings:
            sys.stderr.write(f"warning: {run.path}: {warning}\n")
    if result.skipped:
        sys.stderr.write(f"note: left out, ir-measures cannot express them: {', '.join(result.skipped)}\n")
    if args.format == "json":
        _json(result, args)
    elif args.format == "csv":
        _csv(result, args)
    else:
        _text(result, args)
    return 0


def _rows(result, args):
    for run, qid, nm, value in result.rows(per_query=args.per_query):
        if qid == "all" and args.no_summary:
            continue
        yield run, qid, nm, value


def _text(result, args) -> None:
    from workbench.export.trec_eval import line, value_text
    from workbench.scoring import is_summed

    several = len(result.runs) > 1
    summed = {nm.canonical: is_summed(nm.measure) for nm in result.measures}
    tags = {run.name: run.run_tag for run in result.runs}
    out = []
    for run, qid, nm, value in _rows(result, args):
        if qid != "all" and nm.measure.NAME == "NumQ":
            continue  # trec_eval prints num_q in the `all` lines only
        if qid == "all" and result.runid and nm is result.measures[0]:
            out.append(line("runid", "all", tags[run], run if several else None))
        out.append(line(nm.name, qid, value_text(value, summed[nm.canonical]), run if several else None))
    sys.stdout.write("".join(out))


def _json(result, args) -> None:
    from workbench.cli.common import print_json
    from workbench.scoring import evaluator_id

    print_json({
        "qrels": result.qrels,
        "semantics": result.semantics,
        "relevance_level": result.relevance_level,
        "max_per_query": result.max_per_query,
        "measures": [{"measure": nm.name, "canonical": nm.canonical, "evaluator": evaluator_id(nm.measure)}
                     for nm in result.measures],
        "skipped": list(result.skipped),
        "runs": [{"run": r.name, "path": r.path, "run_tag": r.run_tag, "warnings": list(r.warnings)}
                 for r in result.runs],
        "scores": [{"run": run, "query_id": qid, "measure": nm.name, "canonical": nm.canonical, "value": value}
                   for run, qid, nm, value in _rows(result, args)],
    })


def _csv(result, args) -> None:
    import csv

    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["run", "query_id", "measure", "value"])
    writer.writerows((run, qid, nm.name, repr(float(value))) for run, qid, nm, value in _rows(result, args))
