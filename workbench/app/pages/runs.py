"""Runs: the collection's runs with metadata and warnings; ingest by upload (validated first); delete."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from workbench.app import data
from workbench.app.common import against, context, plain
from workbench.env import env_int
from workbench.errors import InputFormatError, WorkbenchError
from workbench.model import RunKind
from workbench.services.ingest import ingest_run, run_name_for, set_run_metadata

# Uploads above this are refused (the server's maxUploadSize in .streamlit/config.toml is the outer limit).
MAX_UPLOAD_MB = env_int("WORKBENCH_MAX_UPLOAD_MB", 500)  # read on each run of the page: a bad value is its error
REPORT_KEY = "_ingest_report"
AUTO = "(auto)"


def upload_error(exc: WorkbenchError, tmp: Path, filename: str) -> str:
    """The library's message, with the temporary path replaced by the uploaded file's name."""
    if isinstance(exc, InputFormatError):
        where = f"{filename}:{exc.line}" if exc.line is not None else filename
        return f"{where}: {exc.reason}" + (f" ({exc.hint})" if exc.hint else "")
    return str(exc).replace(str(tmp), filename)


def ingest_upload(db: str, collection: str, upload, *, name: str | None, kind: str | None, parent: str | None,
                  depth: int | None, replace: bool, score: bool, qrels: str | None = None,
                  unjudged: str = data.NONRELEVANT) -> bool:
    """Write the upload to a private temp file and let ingest_run validate and store it (all or nothing).

    Errors are shown at once; on success the report is kept in session state for after the rerun that
    refreshes the run table, and True is returned. `score`: score it against `qrels` (None: the collection's own),
    unjudged documents as `unjudged` (the sidebar's choice).
    """

    if upload.size > MAX_UPLOAD_MB * 1024 * 1024:
        st.error(f"{plain(upload.name)}: {upload.size / 1e6:.1f} MB is over the {MAX_UPLOAD_MB} MB upload limit; "
                 f"ingest it with `workbench ingest` instead")
        return False
    with tempfile.TemporaryDirectory(prefix="workbench-upload-") as tmpdir:
        tmp = Path(tmpdir) / Path(upload.name).name
        tmp.write_bytes(upload.getvalue())
        try:
            result = ingest_run(data.store_for(db), collection, tmp, name=name or run_name_for(upload.name),
                                kind=kind, parent=parent, depth=depth, replace=replace)
        except WorkbenchError as exc:
            st.error(plain(upload_error(exc, tmp, upload.name)), icon=":material/block:")
            st.caption("Nothing was written to the store.")
            return False
    info = result.info
    report = [("success", f"{result.status} run **{plain(info.name)}**: {info.n_rows} rows, {info.n_queries} queries")]
    report += [("warning", plain(w)) for w in info.warnings]
    if score and result.status != "unchanged":
        with st.spinner("scoring on the default measures ..."):
            data.score_runs(db, collection, [info.name], qrels=qrels, unjudged=unjudged)
        report.append(("caption", "Scored on the collection's default measures"
                       + (f" against qrels {plain(qrels)}" if qrels else "")
                       + (" (judged only)" if unjudged != data.NONRELEVANT else "") + "."))
    st.session_state[REPORT_KEY] = report
    return True


RENAMED_KEY = "_renamed_run"
NO_PARENT = "(none)"


def edit_metadata(ctx, info, names: list[str]) -> None:
    """Kind, parent, depth and name of the chosen run, changed through `set_run_metadata` (the CLI's
    `workbench runs set`): rows and scores stay; runs naming it as parent follow a rename."""

    v = f"{info.name}:{info.kind}:{info.parent}:{info.depth}"  # new widgets whenever the stored metadata changes
    with st.expander("Edit metadata (kind, parent, rerank depth, name)"):
        with st.form(f"metadata:{v}"):
            c1, c2, c3, c4 = st.columns(4)
            kinds = [k.value for k in RunKind]
            kind = c1.selectbox("Kind", kinds, index=kinds.index(str(info.kind)) if str(info.kind) in kinds else 0,
                                key=f"meta_kind:{v}")
            parents = [NO_PARENT, *(n for n in names if n != info.name)]
            parent = c2.selectbox("Parent (first stage)", parents,
                                  index=parents.index(info.parent) if info.parent in parents else 0,
                                  key=f"meta_parent:{v}")
            depth = c3.number_input("Rerank depth", min_value=0, value=info.depth or 0, key=f"meta_depth:{v}",
                                    help="0 = none")
            new_name = c4.text_input("Name", value=info.name, key=f"meta_name:{v}")
            submitted = st.form_submit_button("Save metadata", icon=":material/edit:")
        if submitted:
            try:
                after = set_run_metadata(
                    data.store_for(ctx.db), ctx.collection, info.name, kind=kind,
                    parent="" if parent == NO_PARENT else parent, depth=int(depth),
                    rename=new_name.strip() if new_name.strip() != info.name else None)
            except WorkbenchError as exc:
                st.error(str(exc), icon=":material/block:")
                st.caption("Nothing was changed.")
                return
            st.session_state[RENAMED_KEY] = after.name
            st.session_state[REPORT_KEY] = [("success", f"saved the metadata of run {after.name}: kind {after.kind}, "
                                             f"parent {after.parent or 'none'}, depth {after.depth or 'none'}")]
            st.rerun()


ctx = context()
run_infos = ctx.runs()

if run_infos:
    table = pd.DataFrame([{
        "run": r.name, "kind": str(r.kind), "parent": r.parent or "", "depth": r.depth,
        "queries": r.n_queries, "rows": r.n_rows, "warnings": len(r.warnings), "tag": r.run_tag or "",
        "ingested": (r.ingested_at or "")[:19], "hash": r.run_hash[:12],
    } for r in run_infos])
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={"warnings": st.column_config.NumberColumn("⚠", help="validation warnings")})
    names = [r.name for r in run_infos]
    by_name = {r.name: r for r in run_infos}
    if st.session_state.get(RENAMED_KEY) in names:  # a rename: show the run under its new name
        st.session_state["run"] = st.session_state.pop(RENAMED_KEY)
    chosen = st.selectbox("Run details", names, key="run", bind="query-params")
    info = by_name[chosen]
    left, right = st.columns([3, 2])
    with left:
        st.markdown(f"**{plain(info.name)}** · {info.kind} · {info.n_queries} queries · {info.n_rows} rows"
                    + (f" · reranks **{plain(info.parent)}** at depth {info.depth}" if info.parent else ""))
        if info.warnings:
            for w in info.warnings:
                st.warning(plain(w))
        else:
            st.caption("No validation warnings.")
        if info.metadata_header:
            with st.expander("ir_metadata header"):
                st.code(info.metadata_header, language="yaml")
    with right:
        st.json({"source_path": info.source_path, "run_tag": info.run_tag, "run_hash": info.run_hash,
                 "ingested_at": info.ingested_at, "params": info.params, "software": info.software},
                expanded=1)
    edit_metadata(ctx, info, names)
    with st.expander(f"Delete {plain(chosen)}"):
        confirm = st.text_input(f"Type the run's name, {plain(chosen)}, to confirm", key="confirm_delete")
        if st.button("Delete run", type="primary", disabled=confirm != chosen, icon=":material/delete:"):
            from workbench.store import delete_run

            try:
                delete_run(data.store_for(ctx.db), ctx.collection, chosen)
            except WorkbenchError as exc:  # a run other runs name as their parent
                st.error(plain(str(exc)), icon=":material/block:")
            else:
                st.toast(f"deleted {plain(chosen)}")
                st.rerun()
else:
    st.info("No runs yet: upload one below or use `workbench ingest`.")

st.subheader("Ingest a run")
kinds = [AUTO, *(k.value for k in RunKind)]
with st.form("ingest", clear_on_submit=False):
    upload = st.file_uploader(f"TREC run file (6 columns; at most {MAX_UPLOAD_MB} MB)",
                              type=["trec", "run", "txt", "tsv", "gz"], max_upload_size=MAX_UPLOAD_MB)
    c1, c2, c3, c4 = st.columns(4)
    name = c1.text_input("Name (default: file stem)")
    kind = c2.selectbox("Kind", kinds, help="(auto): rerank when a parent is given, else other")
    parent = c3.selectbox("Parent (for reranked runs)", ["", *[r.name for r in run_infos]])
    depth = c4.number_input("Rerank depth", min_value=0, value=0, help="0 = not a reranked run")
    c5, c6 = st.columns(2)
    replace = c5.checkbox("Replace a run with the same name")
    score = c6.checkbox(f"Score on the default measures{against(ctx)}", value=True)
    submitted = st.form_submit_button("Validate and ingest", icon=":material/upload:")
if submitted:
    if upload is None:
        st.error("Choose a file first.")
    else:
        if ingest_upload(ctx.db, ctx.collection, upload, name=name.strip() or None,
                         kind=None if kind == AUTO else kind, parent=parent or None, depth=int(depth) or None,
                         replace=replace, score=score, **ctx.scoring):
            st.rerun()
for level, text in st.session_state.pop(REPORT_KEY, []):
    getattr(st, level)(text)
