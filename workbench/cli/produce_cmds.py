"""`workbench retrieve|fuse|rerank|step|build|demo|serve`: make runs, rebuild the manifest, show the dashboard.

The step commands are generated from the step registry (workbench.retrieval.steps): `retrieve <retriever>` for
each built-in retrieve-kind step, `fuse` and `rerank` for the built-in steps of those names, and `step <name>`
for every step, a plugin's included (its parser is made when the command runs, so the entry points are read only
then, never for `--help` or any other command).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

from workbench.cli import lake_cmds
from workbench.cli.collection_cmds import warn_collection
from workbench.cli.common import (
    add_check,
    add_collection_arg,
    add_json_arg,
    add_runs_args,
    err_console,
    ip_address,
    port,
    print_json,
    progress,
    threads,
)
from workbench.errors import WorkbenchError
from workbench.retrieval.steps import KINDS, STEPS, Step

DEFAULT_MANIFEST = "data_manifest.yaml"


def register(sub) -> None:
    r = sub.add_parser("retrieve", help="first-stage retrieval on a collection's documents and topics")
    rsub = r.add_subparsers(dest="retriever", metavar="RETRIEVER")
    rsub.required = True
    for step in STEPS.values():
        if step.kind == "retrieve":
            step_parser(rsub, step)
    step_parser(sub, STEPS["fuse"])
    step_parser(sub, STEPS["rerank"])

    st = sub.add_parser("step", help="run any registered step, built in or a plugin's (no name: list them)")
    st.add_argument("step_name", nargs="?", metavar="STEP", help="the step (no name: list the registered steps)")
    st.add_argument("step_args", nargs=argparse.REMAINDER, metavar="...", help="the step's options")
    st.set_defaults(func=cmd_step)

    b = sub.add_parser("build", help="bring the store up to date with data_manifest.yaml (only what is out of date)")
    b.add_argument("--manifest", default=DEFAULT_MANIFEST, help="the manifest to build")
    b.add_argument("--collection", "-c", action="append",
                   help="only this collection (repeatable; default: every collection in the manifest)")
    b.add_argument("--threads", type=threads, default=1, help="threads for encoding and search")
    b.add_argument("--no-score", action="store_true", help="do not score the runs on the default measures")
    b.add_argument("--replace", action="store_true",
                   help="also replace collections and runs under the manifest's names that build did not put "
                        "there (by default they are refused)")
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


def step_parser(sub, step: Step) -> argparse.ArgumentParser:
    """A step's command: the collection, its input runs as its kind reads them, its parameters (the schema the
    manifest reads too, cross-parameter rules included), --name and the options every step command has."""
    p = sub.add_parser(step.name, help=step.help or f"the {step.name} step ({KINDS[step.kind]})")
    add_collection_arg(p)
    if step.kind == "fuse":
        add_runs_args(p, "input runs (at least two)", at_least=2)
    elif step.kind == "rerank":
        p.add_argument("--run", "-r", required=True, help="the first-stage run to rerank")
    step.add_options(p)
    p.add_argument("--name", help=f"run name (default: {step.run_name(_EXAMPLE_INPUTS[step.kind], {})})")
    _common(p)
    if step.engine:
        lake_cmds.add_engine_args(p, lake=False)
    if step.kind == "fuse" and any(q.name == "weights" for q in step.params):
        add_check(p, _one_weight_per_run)  # the clearer CLI spelling of the schema's rule, checked first
    if step.check_inputs is not None:
        add_check(p, partial(_check_inputs, step=step))
    p.set_defaults(step_name=step.name)
    return p


def _check_inputs(p, args, *, step: Step) -> None:
    """The step's cross-parameter rules (e.g. interpolation fuses two runs) as a usage error naming the option."""
    from workbench.retrieval.steps import ParamError

    inputs = args.runs if step.kind == "fuse" else [args.run] if step.kind == "rerank" else []
    try:
        step.checked(step.from_cli(args), len(inputs))
    except ParamError as exc:
        option = next((q.option for q in step.params if q.name == exc.key), None)
        p.error(f"{option}: {exc}" if option else str(exc))


_EXAMPLE_INPUTS = {"retrieve": (), "fuse": ("<run>", "<run>"), "rerank": ("<run>",)}


def _one_weight_per_run(p, args) -> None:
    if args.weights is not None and len(args.weights) != len(args.runs):
        p.error(f"--weights: {len(args.weights)} weight(s) for {len(args.runs)} runs; give one per run")


def _common(p) -> None:
    p.add_argument("--threads", type=threads, default=1, help="threads for encoding and search")
    p.add_argument("--force", action="store_true", help="rebuild even if the recipe is unchanged")
    p.add_argument("--replace", action="store_true",
                   help="replace a stored run of the same name (by default a taken name is refused)")
    p.add_argument("--runs-dir", default=None,
                   help="where <collection>/<name>.trec is written (default: $WORKBENCH_RUNS_DIR, else runs/ "
                        "beside the store file)")
    add_json_arg(p)
    p.set_defaults(func=cmd_produce)


def _recipe(args, step: Step | None = None):
    """The recipe a step command asks for (`step`: the one `workbench step` resolved; else a built-in one)."""
    from workbench.services.produce import Recipe

    step = step or STEPS[args.step_name]
    inputs = tuple(args.runs) if step.kind == "fuse" else (args.run,) if step.kind == "rerank" else ()
    params = step.from_cli(args)
    name = args.name or step.run_name(inputs, params)
    if step.kind == "retrieve":
        return Recipe(args.collection, name, "retrieve", step.name, (), params)
    return Recipe(args.collection, name, step.name, None, inputs, params)


def cmd_step(ctx, args) -> int:
    """`workbench step NAME ...`: the step's own parser, made now (plugins are read only here)."""
    from workbench.cli.common import Parser, after_parse
    from workbench.retrieval.steps import plugin_failures, steps

    registered = steps()
    if args.step_name is None:
        return _list_steps(registered, plugin_failures())
    found = registered.get(args.step_name)
    if found is None:
        failed = "".join(f"; {line}" for line in plugin_failures())
        raise WorkbenchError(f"unknown step {args.step_name!r}; expected one of {', '.join(registered)}{failed}",
                             hint="workbench step lists them")
    holder = Parser(prog="workbench step").add_subparsers()
    try:
        parser = step_parser(holder, found)
    except argparse.ArgumentError as exc:
        raise WorkbenchError(f"{found.label} cannot be used on the command line: {exc}") from None
    try:
        sub_args = parser.parse_args(args.step_args)
        after_parse(sub_args)
    except SystemExit as exc:  # a usage error (2) or --help (0), already printed
        return exc.code if isinstance(exc.code, int) else 2
    return cmd_produce(ctx, sub_args, found)


def _list_steps(registered: dict[str, Step], failures: tuple[str, ...]) -> int:
    """The registered steps, one a line (stdout); the plugins that failed to load, as warnings (stderr)."""
    out = [f"{s.name:16} {s.kind:9} {s.run_kind:8} {s.origin or 'built in':24} {s.help}".rstrip()
           for s in registered.values()]
    sys.stdout.write("usage: workbench step STEP [options]   (workbench step STEP --help: its options)\n\n"
                     f"{'step':16} {'kind':9} {'run kind':8} {'from':24} what it does\n" + "\n".join(out) + "\n")
    for line in failures:
        err_console().print(f"warning: {line}", markup=False, soft_wrap=True)
    return 0


def cmd_produce(ctx, args, step: Step | None = None) -> int:
    from workbench.cli.run_cmds import note_children
    from workbench.services.produce import default_runs_dir, produce

    recipe = _recipe(args, step)
    started = time.perf_counter()
    store = ctx.store
    engine = lake_cmds.engine_for(args) if getattr(args, "engine", "local") != "local" else None
    try:
        result = produce(store, recipe, runs_dir=args.runs_dir or default_runs_dir(store), threads=args.threads,
                         force=args.force, replace=args.replace, engine=engine)
    finally:
        if engine is not None:
            engine.close()
    if result.status == "replaced":
        note_children(store, recipe.collection, recipe.name)
    if args.json:
        print_json(result.to_dict())
    else:
        err_console().print(f"{result.status} run [bold]{result.info.name}[/] ({result.info.n_rows} rows, "
                            f"{result.info.n_queries} queries) in {time.perf_counter() - started:.1f} s")
    return 0


def _build(ctx, manifest_path: str, collections, threads: int, replace: bool = False):
    from workbench.services.build import build, steps
    from workbench.services.manifest import load_manifest

    manifest = load_manifest(manifest_path)
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
                       only_collections=set(collections) if collections else None, replace=replace)
    return manifest, report


def cmd_build(ctx, args) -> int:
    from workbench.services.evaluate import evaluate_runs
    from workbench.store import list_runs

    manifest, report = _build(ctx, args.manifest, args.collection, args.threads, args.replace)
    scored = {}
    if not args.no_score:
        for name in manifest.collections:
            if args.collection and name not in args.collection:
                continue
            if not list_runs(ctx.store, name):  # a collection declared before its runs: built, nothing to score
                err_console().print(f"note: collection {name} has no runs yet; nothing to score", markup=False)
                continue
            scored[name] = evaluate_runs(ctx.store, name).computed
    if args.json:
        print_json({**report.to_dict(), "scored": scored})
    else:
        err_console().print(f"build done: {report.changed} changed; scored {sum(scored.values())} (run, measure) pairs")
    for name in scored:  # what each scored collection's report found off
        warn_collection(ctx, name)
    return 0


def cmd_demo(ctx, args) -> int:
    from workbench.export import render
    from workbench.files import ensure_folder, write_text
    from workbench.services.evaluate import evaluate_runs
    from workbench.services.leaderboard import build_leaderboard

    started = time.perf_counter()
    out = Path(args.out)
    if out.exists() and not out.is_dir():  # before the build, not after minutes of it
        raise WorkbenchError(f"{out}: not a folder (a file of that name exists)")
    manifest, _ = _build(ctx, args.manifest, None, args.threads)
    ensure_folder(out)
    baselines = {"dl20": ["bm25"], "scifact": ["bm25"]}
    for name in manifest.collections:
        ev = evaluate_runs(ctx.store, name)
        base = [b for b in baselines.get(name, []) if b in ev.runs]
        lb = build_leaderboard(ev, baselines=base)
        for fmt, ext in (("markdown", "md"), ("csv", "csv"), ("latex", "tex"), ("html", "html"), ("json", "json")):
            write_text(out / f"leaderboard-{name}.{ext}", render(lb, fmt))
        sys.stdout.write(f"\n## {name}\n\n" + render(lb, "markdown"))
    err_console().print(f"demo built in {time.perf_counter() - started:.1f} s; leaderboards in {out}/")
    if args.no_serve:
        return 0
    return _serve(ctx, args.port, "127.0.0.1")


def cmd_serve(ctx, args) -> int:
    return _serve(ctx, args.port, args.address)


def _serve(ctx, port: int, address: str) -> int:
    """Run Streamlit in a child process until it stops, or until SIGINT/SIGTERM, which are passed on to it.

    The child is in a session of its own, so the signal reaches it once, from here; on Linux it also gets SIGTERM
    should this process die without passing anything on. If it has not stopped 10 s after the signal, it is
    killed. Either way no server is left listening when this returns.
    """
    from workbench.env import check_dashboard_env, env_int

    ctx.store.ensure_schema()  # a missing path or a file that is not a store: refused before anything starts
    from workbench.app import serve

    env = {**os.environ, "WORKBENCH_DB": str(ctx.store.path.resolve())}
    check_dashboard_env()
    upload_mb = env_int("WORKBENCH_MAX_UPLOAD_MB", serve.MAX_UPLOAD_MB)  # the server's cap and the Runs page's agree
    err_console().print(f"dashboard on http://{address}:{port} (Ctrl-C to stop)", markup=False)
    # every setting on the command line, so the installed package serves as a checkout does; in the user's folder,
    # so relative paths in the WORKBENCH_* variables mean what they meant to the user, but without that folder on
    # sys.path (-P), where a stray workbench/ or pandas.py would shadow the installed ones
    cmd = [sys.executable, "-P", "-m", "streamlit", "run", str(serve.SCRIPT), *serve.command_options(
        {"server.address": address, "server.port": port, "server.maxUploadSize": upload_mb})]
    child = subprocess.Popen(cmd, env=env, start_new_session=True, preexec_fn=_die_with_parent)
    return _wait_forwarding(child)


GRACE_S = 10.0
"""How long the dashboard has to stop after SIGINT/SIGTERM before it is killed."""


def _wait_forwarding(child: subprocess.Popen) -> int:
    """Wait for `child`, passing SIGINT and SIGTERM on to it; 128 + the signal when one stopped it."""
    import signal

    received: list[int] = []

    def forward(signum, frame) -> None:
        received.append(signum)
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        deadline = None
        while True:
            try:
                code = child.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if received and deadline is None:
                    deadline = time.monotonic() + GRACE_S
                if deadline is not None and time.monotonic() > deadline:
                    child.kill()
    finally:
        if child.poll() is None:  # something went wrong here: the dashboard must not outlive us
            child.kill()
            child.wait()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 128 + received[0] if received else code


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies (Linux prctl PR_SET_PDEATHSIG); elsewhere nothing."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
