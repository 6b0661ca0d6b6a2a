"""`workbench retrieve|fuse|rerank|build|demo|serve`: make runs, rebuild the manifest, show the dashboard."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from workbench.cli import lake_cmds
from workbench.cli.common import (
    add_check,
    add_collection_arg,
    add_json_arg,
    add_runs_args,
    batch_size,
    bm25_k1,
    err_console,
    ip_address,
    non_negative_int,
    port,
    positive_int,
    print_json,
    progress,
    threads,
    unit_interval,
    weight,
)

DEFAULT_MANIFEST = "data_manifest.yaml"
MAX_UPLOAD_MB = 500  # same cap as .streamlit/config.toml


def register(sub) -> None:
    r = sub.add_parser("retrieve", help="first-stage retrieval on a collection's documents and topics")
    rsub = r.add_subparsers(dest="retriever", metavar="RETRIEVER")
    rsub.required = True
    bm = rsub.add_parser("bm25", help="BM25 via pyserini/Lucene (BEIR flat: title and text in one field)")
    add_collection_arg(bm)
    bm.add_argument("--name", default="bm25", help="run name")
    bm.add_argument("--k1", type=bm25_k1, default=0.9, help="BM25 term-frequency saturation, from 0 to 1000")
    bm.add_argument("--b", type=unit_interval, default=0.4, help="BM25 length normalisation, in [0, 1]")
    bm.add_argument("--hits", type=positive_int, default=1000, help="documents retrieved per query")
    _common(bm)
    de = rsub.add_parser("dense", help="dense retrieval: sentence-transformers encoder + faiss")
    add_collection_arg(de)
    de.add_argument("--encoder", default="minilm", help="'minilm' (bundled all-MiniLM-L6-v2) or a model directory")
    de.add_argument("--name", help="run name (default: dense-<encoder>)")
    de.add_argument("--hits", type=positive_int, default=1000, help="documents retrieved per query")
    de.add_argument("--index", choices=["flat", "hnsw"], default="flat",
                    help="faiss index: exact inner product (flat) or approximate (hnsw)")
    de.add_argument("--batch-size", type=batch_size, default=64, help="texts encoded per batch")
    _common(de)
    lake_cmds.add_engine_args(de, lake=False)

    f = sub.add_parser("fuse", help="fuse two or more stored runs (RRF, CombSUM, CombMNZ, interpolation)")
    add_collection_arg(f)
    add_runs_args(f, "input runs (at least two)", at_least=2)
    f.add_argument("--method", choices=["rrf", "combsum", "combmnz", "interpolation"], default="rrf",
                   help="fusion method")
    f.add_argument("--k", type=non_negative_int, default=60, help="RRF k")
    f.add_argument("--norm", choices=["minmax", "zscore", "rank", "none"], default=None,
                   help="score normalisation for combsum/combmnz/interpolation (default minmax)")
    f.add_argument("--weights", type=weight, nargs="+", metavar="W",
                   help="one weight per input run (default: 1 each; 0.5 0.5 for interpolation)")
    f.add_argument("--depth", type=positive_int, default=1000, help="documents taken from each input per query")
    f.add_argument("--name", help="run name (default: <method>-<run>+<run>...)")
    _common(f)
    add_check(f, _one_weight_per_run)

    rr = sub.add_parser("rerank", help="re-score the top-k of a stored run (MiniLM bi-encoder or a CrossEncoder dir)")
    add_collection_arg(rr)
    rr.add_argument("--run", "-r", required=True, help="the first-stage run to rerank")
    rr.add_argument("--depth", type=positive_int, default=100, help="how many of its documents per query to re-score")
    rr.add_argument("--model", default="minilm", help="'minilm' or a local sentence-transformers/CrossEncoder dir")
    rr.add_argument("--batch-size", type=batch_size, default=64, help="query-document pairs scored per batch")
    rr.add_argument("--name", help="run name (default: <run>__<model>@<depth>)")
    _common(rr)

    b = sub.add_parser("build", help="bring the store up to date with data_manifest.yaml (only what is out of date)")
    b.add_argument("--manifest", default=DEFAULT_MANIFEST, help="the manifest to build")
    b.add_argument("--collection", "-c", action="append",
                   help="only this collection (repeatable; default: every collection in the manifest)")
    b.add_argument("--threads", type=threads, default=1, help="threads for encoding and search")
    b.add_argument("--no-score", action="store_true", help="do not score the runs on the default measures")
    add_json_arg(b)
    b.set_defaults(func=cmd_build)

    d = sub.add_parser("demo", help="build the bundled demo, score it, write leaderboards, serve the dashboard")
    d.add_argument("--manifest", default=DEFAULT_MANIFEST, help="the manifest to build")
    d.add_argument("--out", default="out", help="folder for the leaderboards (default: out/)")
    d.add_argument("--threads", type=threads, default=2, help="threads for encoding and search")
    d.add_argument("--no-serve", action="store_true", help="do not start the dashboard")
    d.add_argument("--port", type=port, default=8501, help="the dashboard's TCP port")
    d.set_defaults(func=cmd_demo)

    s = sub.add_parser("serve", help="start the Streamlit dashboard on 127.0.0.1")
    s.add_argument("--port", type=port, default=8501, help="TCP port")
    s.add_argument("--address", type=ip_address, default="127.0.0.1",
                   help="bind address (default: 127.0.0.1, this machine only)")
    s.set_defaults(func=cmd_serve)


def _one_weight_per_run(p, args) -> None:
    if args.weights is not None and len(args.weights) != len(args.runs):
        p.error(f"--weights: {len(args.weights)} weight(s) for {len(args.runs)} runs; give one per run")


def _common(p) -> None:
    p.add_argument("--threads", type=threads, default=1, help="threads for encoding and search")
    p.add_argument("--force", action="store_true", help="rebuild even if the recipe is unchanged")
    p.add_argument("--runs-dir", default="runs", help="where the TREC file is written (default: runs/)")
    add_json_arg(p)
    p.set_defaults(func=cmd_produce)


def _recipe(args):
    from workbench.produce import Recipe, fused_run_name

    if args.command == "retrieve" and args.retriever == "bm25":
        return Recipe(args.collection, args.name, "retrieve", "bm25", (),
                      {"k1": args.k1, "b": args.b, "hits": args.hits})
    if args.command == "retrieve":
        name = args.name or f"dense-{Path(args.encoder).name}"
        return Recipe(args.collection, name, "retrieve", "dense", (),
                      {"model": args.encoder, "hits": args.hits, "index": args.index, "batch_size": args.batch_size})
    if args.command == "fuse":
        params = {"method": args.method, "k": args.k, "depth": args.depth}
        if args.norm:
            params["norm"] = None if args.norm == "none" else args.norm
        if args.weights:
            params["weights"] = args.weights
        return Recipe(args.collection, args.name or fused_run_name(args.method, args.runs), "fuse", None,
                      tuple(args.runs), params)
    name = args.name or f"{args.run}__{Path(args.model).name}@{args.depth}"
    return Recipe(args.collection, name, "rerank", None, (args.run,),
                  {"depth": args.depth, "model": args.model, "batch_size": args.batch_size})


def cmd_produce(ctx, args) -> int:
    from workbench.produce import produce

    recipe = _recipe(args)
    started = time.perf_counter()
    engine = lake_cmds.engine_for(args) if getattr(args, "engine", "local") != "local" else None
    try:
        result = produce(ctx.store, recipe, runs_dir=args.runs_dir, threads=args.threads, force=args.force,
                         engine=engine)
    finally:
        if engine is not None:
            engine.close()
    if args.json:
        print_json(result.to_dict())
    else:
        err_console().print(f"{result.status} run [bold]{result.info.name}[/] ({result.info.n_rows} rows, "
                            f"{result.info.n_queries} queries) in {time.perf_counter() - started:.1f} s")
    return 0


def _build(ctx, manifest_path: str, collections, threads: int):
    from workbench.build import build, steps
    from workbench.errors import WorkbenchError
    from workbench.manifest import load_manifest

    manifest = load_manifest(manifest_path)
    unknown = [c for c in collections or () if c not in manifest.collections]
    if unknown:  # else a mistyped -c would build nothing and say "done"
        raise WorkbenchError(f"{manifest_path}: no collection {unknown[0]!r} in the manifest "
                             f"(it has {', '.join(manifest.collections) or 'none'})")
    with progress() as bar:
        task = bar.add_task("building", total=steps(manifest))

        def on_event(what: str, name: str, status: str) -> None:
            if status == "building":
                bar.update(task, description=f"building {name}")
                return
            bar.advance(task)
            if status != "unchanged":
                bar.console.print(f"{status:9} {what} {name}")

        report = build(ctx.store, manifest, threads=threads, on_event=on_event,
                       only_collections=set(collections) if collections else None)
    return manifest, report


def cmd_build(ctx, args) -> int:
    from workbench.evaluate import evaluate_runs

    manifest, report = _build(ctx, args.manifest, args.collection, args.threads)
    scored = {}
    if not args.no_score:
        for name in manifest.collections:
            if args.collection and name not in args.collection:
                continue
            scored[name] = evaluate_runs(ctx.store, name).computed
    if args.json:
        print_json({**report.to_dict(), "scored": scored})
    else:
        err_console().print(f"build done: {report.changed} changed; scored {sum(scored.values())} (run, measure) pairs")
    return 0


def cmd_demo(ctx, args) -> int:
    from workbench.evaluate import evaluate_runs
    from workbench.export import render
    from workbench.leaderboard import build_leaderboard

    started = time.perf_counter()
    manifest, _ = _build(ctx, args.manifest, None, args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    baselines = {"dl20": ["bm25"], "scifact": ["bm25"]}
    for name in manifest.collections:
        ev = evaluate_runs(ctx.store, name)
        base = [b for b in baselines.get(name, []) if b in ev.runs]
        lb = build_leaderboard(ev, baselines=base)
        for fmt, ext in (("markdown", "md"), ("csv", "csv"), ("latex", "tex"), ("html", "html"), ("json", "json")):
            (out / f"leaderboard-{name}.{ext}").write_text(render(lb, fmt))
        sys.stdout.write(f"\n## {name}\n\n" + render(lb, "markdown"))
    err_console().print(f"demo built in {time.perf_counter() - started:.1f} s; leaderboards in {out}/")
    if args.no_serve:
        return 0
    return _serve(ctx, args.port, "127.0.0.1")


def cmd_serve(ctx, args) -> int:
    return _serve(ctx, args.port, args.address)


def _serve(ctx, port: int, address: str) -> int:
    from workbench.env import check_dashboard_env, env_int

    app = Path(__file__).resolve().parents[2] / "app.py"
    env = {**os.environ, "WORKBENCH_DB": str(ctx.store.path.resolve())}
    check_dashboard_env()
    upload_mb = env_int("WORKBENCH_MAX_UPLOAD_MB", MAX_UPLOAD_MB)  # the server's cap and the Runs page's agree
    err_console().print(f"dashboard on http://{address}:{port} (Ctrl-C to stop)")
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", address,
           "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
           "--server.maxUploadSize", str(upload_mb), "--server.fileWatcherType", "none"]
    # from the repository root, so .streamlit/config.toml (loopback, upload cap) applies
    return subprocess.call(cmd, env=env, cwd=app.parent)
