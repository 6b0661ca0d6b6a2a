"""`workbench benchmark add|list|remove`: named groups of collections (`leaderboard --benchmark` ranks over them)."""

from __future__ import annotations

from workbench.cli.common import add_json_arg, err_console, out_console, print_json

# rich, the store and the services load inside the commands that use them (issue 21)


def register(sub) -> None:
    p = sub.add_parser("benchmark", help="define, list or remove benchmarks (named groups of collections)")
    bsub = p.add_subparsers(dest="benchmark_command", metavar="ACTION")
    bsub.required = True

    a = bsub.add_parser("add", help="define a benchmark over stored collections, in the order given")
    a.add_argument("name", help="the benchmark's name")
    a.add_argument("collections", nargs="+", metavar="COLLECTION", help="its collections (each stored, each once)")
    a.add_argument("--description", help="one line saying what the benchmark is")
    a.add_argument("--replace", action="store_true", help="redefine a benchmark of that name")
    add_json_arg(a)
    a.set_defaults(func=cmd_add)

    ls = bsub.add_parser("list", help="the benchmarks and their collections")
    add_json_arg(ls)
    ls.set_defaults(func=cmd_list)

    rm = bsub.add_parser("remove", help="forget a benchmark (asks for --yes; its collections, runs and scores stay)")
    rm.add_argument("name", help="the benchmark")
    rm.add_argument("--yes", action="store_true", help="really remove it")
    rm.set_defaults(func=cmd_remove)


def cmd_add(ctx, args) -> int:
    from rich.markup import escape

    from workbench.services.benchmark import add_benchmark

    info, changed = add_benchmark(ctx.store, args.name, args.collections, description=args.description or "",
                                  replace=args.replace)
    if args.json:
        print_json({**info.to_dict(), "changed": changed})
    else:
        verb = "added" if changed else "unchanged (same definition)"
        err_console().print(f"benchmark [bold]{escape(info.name)}[/] {verb}: "
                            f"{escape(', '.join(info.collections))}")
    return 0


def cmd_list(ctx, args) -> int:
    from rich.markup import escape
    from rich.table import Table

    from workbench.store import list_benchmarks, list_collections

    stored = {c.name for c in list_collections(ctx.store)}
    infos = list_benchmarks(ctx.store)
    if args.json:
        print_json([{**i.to_dict(), "missing_collections": [c for c in i.collections if c not in stored]}
                    for i in infos])
        return 0
    table = Table("benchmark", "collections", "description")
    for i in infos:
        names = ", ".join(c if c in stored else f"{c} (not stored)" for c in i.collections)
        table.add_row(escape(i.name), escape(names), escape(i.description))
    out_console().print(table)
    return 0


def cmd_remove(ctx, args) -> int:
    from workbench.services.benchmark import remove_benchmark

    remove_benchmark(ctx.store, args.name, confirmed=args.yes)
    err_console().print(f"removed benchmark {args.name}", markup=False)
    return 0
