"""Issue 7, security: loopback by default, capped uploads, safe YAML, parameterised SQL, safe export paths."""

from __future__ import annotations

import re
import tomllib

import pytest
from conftest import snapshot
from test_reliability_support import ROOT, run_lines

NASTY = "';DROP_TABLE_runs;--"


# ------------------------------------------------------------------------------------------- dashboard


def test_streamlit_config_binds_loopback_and_caps_uploads():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    server = config["server"]
    assert server["address"] == "127.0.0.1"
    assert isinstance(server["maxUploadSize"], int) and 0 < server["maxUploadSize"] <= 1024  # MB
    assert server["enableXsrfProtection"] is True
    assert config["browser"]["gatherUsageStats"] is False
    # the Runs page refuses bigger uploads itself, with the same default cap
    page = (ROOT / "workbench" / "app" / "pages" / "runs.py").read_text()
    cap = re.search(r'MAX_UPLOAD_MB = env_int\("WORKBENCH_MAX_UPLOAD_MB", (\d+)\)', page)
    assert cap and int(cap.group(1)) == server["maxUploadSize"]
    assert "upload.size > MAX_UPLOAD_MB * 1024 * 1024" in page


@pytest.mark.parametrize("argv, address", [(["serve"], "127.0.0.1"), (["serve", "--address", "0.0.0.0"], "0.0.0.0"),
                                           (["demo", "--no-serve"], None)])
def test_serve_binds_loopback_unless_told_otherwise(argv, address, monkeypatch, store):
    from workbench.cli import produce_cmds
    from workbench.cli.main import build_parser

    args = build_parser().parse_args(["--db", str(store), *argv])
    if address is None:  # demo serves on loopback, with no option to change it
        assert not hasattr(args, "address")
        return
    calls = []  # the command line only (tests/test_serve_signals.py runs a real server)
    monkeypatch.setattr(produce_cmds.subprocess, "Popen", lambda cmd, **kw: calls.append(cmd) or cmd)
    monkeypatch.setattr(produce_cmds, "_wait_forwarding", lambda child: 0)
    assert args.func(produce_cmds_context(args), args) == 0
    cmd = calls[0]
    assert cmd[cmd.index("--server.address") + 1] == address
    assert cmd[cmd.index("--browser.gatherUsageStats") + 1] == "false"


def produce_cmds_context(args):
    from workbench.cli.common import Context

    return Context(db=args.db)


# ------------------------------------------------------------------------------------------------ YAML


def test_manifest_with_python_object_tags_is_refused_and_runs_nothing(store, cli, tmp_path):
    marker = tmp_path / "PWNED"
    manifest = tmp_path / "data_manifest.yaml"
    manifest.write_text("collections:\n  base:\n    qrels: !!python/object/apply:os.system\n"
                        f"      - touch {marker}\n")
    before = snapshot(store)
    res = cli("build", "--manifest", manifest, "--no-score")
    assert res.code == 2 and not marker.exists()
    assert res.err.strip().splitlines() == [res.err.strip()]
    assert res.err.startswith(f"error: {manifest}:3: invalid YAML")
    assert "python/object/apply:os.system" in res.err
    assert snapshot(store) == before


def test_run_metadata_header_yaml_is_loaded_safely(store, cli, tmp_path):
    marker = tmp_path / "PWNED"
    run = tmp_path / "meta.trec"
    run.write_text(f"# ir_metadata.start\n# x: !!python/object/apply:os.system ['touch {marker}']\n"
                   "# ir_metadata.end\n" + run_lines(["101", "102"], 3, "m", 1))
    res = cli("ingest", "-c", "base", run, "--json")
    assert res.code == 0, res.err
    assert not marker.exists()
    assert any("ir_metadata header is not valid YAML" in w for w in res.json()[0]["warnings"])


def test_manifest_loader_is_safe_loader_based():
    import yaml

    from workbench.services.manifest import _Loader

    assert issubclass(_Loader, yaml.SafeLoader)
    assert "!!python/object" not in str(_Loader.yaml_constructors)


# ------------------------------------------------------------------------------------------------- SQL


@pytest.mark.parametrize("name", ["'; DROP TABLE runs; --", "x'); DELETE FROM runs; --", "../escape", "a/b", "..",
                                  "run..x", "/etc/passwd", ".hidden", "a b", "x" * 201])
def test_dangerous_run_and_collection_names_are_refused(store, cli, tmp_path, name):
    run = tmp_path / "ok.trec"
    run.write_text(run_lines(["101"], 3, "t", 1))
    before = snapshot(store)
    for args in (("ingest", "-c", "base", run, "--name", name),
                 ("collection", "add", name, "--qrels", tmp_path / "missing.txt")):
        res = cli(*args)
        assert res.code == 2 and "Traceback" not in res.err
        assert res.err.startswith("error: invalid ") and "name" in res.err, res.err
        assert res.err.strip().splitlines() == [res.err.strip()]
    assert snapshot(store) == before


def test_sql_in_ids_paths_and_lookups_is_just_data(store, cli, tmp_path):
    from workbench.io.runs import read_run

    folder = tmp_path / "it's; DROP TABLE runs; --"
    folder.mkdir()
    run = folder / "x'; DROP TABLE runs; --.trec"  # the path goes into DuckDB's read_csv as a quoted literal
    rows = [f"{NASTY} Q0 {NASTY}doc 1 2.5 {NASTY}", "101 Q0 \"quoted\" 1 2.0 t", "101 Q0 d1' 2 1.0 t",
            "101 Q0 [/x] 3 0.5 t"]
    run.write_text("\n".join(rows) + "\n")
    res = cli("ingest", "-c", "base", run, "--name", "nasty", "--json")
    assert res.code == 0, res.err
    assert res.json()[0]["n_rows"] == 4
    # lookups with SQL-looking names are parameters: nothing found, nothing dropped
    for args in (("runs", "show", "x' OR '1'='1", "-c", "base"), ("runs", "show", "nasty", "-c", "base' OR '1'='1"),
                 ("runs", "delete", "' OR 1=1; --", "-c", "base"), ("evaluate", "-c", "base", "--runs", NASTY)):
        res = cli(*args)
        assert res.code == 2 and res.err.startswith("error: no ") and "Traceback" not in res.err, res.err
    out = tmp_path / "out"
    assert cli("runs", "export", "-c", "base", "nasty", "--out-dir", out).code == 0
    back = read_run(out / "nasty.trec").table.to_pylist()
    assert sorted((r["query_id"], r["doc_id"], r["score"]) for r in back) == sorted(
        [(NASTY, f"{NASTY}doc", 2.5), ("101", '"quoted"', 2.0), ("101", "d1'", 1.0), ("101", "[/x]", 0.5)])
    assert [r["name"] for r in cli("runs", "list", "-c", "base", "--json").json()] == ["bm25", "dense", "nasty"]
    assert cli("evaluate", "-c", "base", "--runs", "nasty", "-m", "nDCG@10").code == 0


def test_glob_characters_in_a_path_read_that_file_only(store, cli, tmp_path):
    """read_csv expands globs: 'q[1].trec' must not be read from 'q1.trec' (a bug fixed in workbench/io/runs.py)."""
    from workbench.store import Store, get_run_rows

    (tmp_path / "q1.trec").write_text("999 Q0 wrong 1 1.0 t\n")
    (tmp_path / "qx.trec").write_text("998 Q0 wrong 1 1.0 t\n")
    for i, fname in enumerate(("q[1].trec", "q?.trec", "q*.trec")):
        path = tmp_path / fname
        path.write_text("101 Q0 right 1 1.0 t\n101 Q0 also-right 2 0.5 t\n")
        assert cli("ingest", "-c", "base", path, "--name", f"glob{i}").code == 0
        rows = get_run_rows(Store(store), "base", f"glob{i}").to_pylist()
        assert sorted(r["doc_id"] for r in rows) == ["also-right", "right"], fname


# ---------------------------------------------------------------------------------------------- export


def test_export_never_writes_outside_the_folder(store, cli, tmp_path):
    import duckdb

    out = tmp_path / "deep" / "out"
    res = cli("runs", "export", "-c", "base", "../../evil", "--out-dir", out)
    assert res.code == 2 and res.err.startswith("error: no run named '../../evil'")
    # a name that got into the store by other means (an old version, a hand edit) is still refused
    con = duckdb.connect(str(store))
    con.execute("UPDATE runs SET name = '../../evil' WHERE name = 'dense'")
    con.close()
    for names in ([], ["../../evil"]):
        res = cli("runs", "export", "-c", "base", *names, "--out-dir", out)
        assert res.code == 2 and "Traceback" not in res.err
        assert "invalid run name '../../evil'" in res.err, res.err
    assert not (tmp_path / "evil.trec").exists() and not (tmp_path / "deep" / "evil.trec").exists()
    assert sorted(p.name for p in tmp_path.rglob("*.trec")) in ([], ["bm25.trec"])


def test_export_does_not_write_through_a_planted_symlink(store, cli, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    (out / "bm25.trec").symlink_to(target)
    res = cli("runs", "export", "-c", "base", "bm25", "--out-dir", out)
    assert res.code == 2 and res.err == f"error: refusing to write 'bm25.trec' outside {out}\n"
    assert target.read_text() == "keep me\n" and (out / "bm25.trec").is_symlink()
