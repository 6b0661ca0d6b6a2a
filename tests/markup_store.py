"""A store whose names, query ids and texts are Markdown, HTML and Streamlit markup (issue 15: the dashboard
rendered them, and headless Chromium fetched `http://127.0.0.1:.../qid.png`).

Every URL in it points at `host`, so a browser test can serve `host` and count what the page fetched. Names obey
the run and collection name rules (letters, digits and `. _ @ + = , -`), which still allows bare links
(`www.`, `user@host.domain`); query ids may hold anything but whitespace; topic and document text anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class MarkupStore:
    path: Path
    collection: str
    run_a: str
    run_b: str
    reranked: str
    query: str
    """The judged query with the most markup in its id and text."""
    query_ids: tuple[str, ...]
    topic_text: str
    doc_id: str
    doc_title: str
    doc_text: str
    warned_id: str
    """A query id only run A has: its ingest warning quotes it."""
    header: str

    def hostile(self) -> dict[str, str]:
        """Each piece of user text the pages show, by what it is (whitespace runs as one space, as shown)."""
        return {"collection": self.collection, "run A": self.run_a, "run B": self.run_b,
                "query": self.query, "topic": " ".join(self.topic_text.split()), "warned id": self.warned_id}


def build_markup_store(path: Path, host: str) -> MarkupStore:
    """Collection, topics, documents, qrels and three scored runs (B, A, and a rerank of B's top 2) under `path`."""
    from workbench.services.collection import add_collection
    from workbench.services.evaluate import evaluate_runs
    from workbench.services.ingest import ingest_run
    from workbench.store import Store

    files = path.parent / f"{path.stem}-files"
    files.mkdir(parents=True, exist_ok=True)
    url = f"http://{host}"
    query = f"q![qid]({url}/qid.png)<img/src={url}/qid-html.png>$x^2$:material/home::smile::red[r]**b**"
    query_ids = (query, f"www.example.org/{query[:4]}", "evil@example.org", "101", "102", "103")
    topic_text = (f"who sings ![topic]({url}/topic.png) [a link]({url}/topic-link) <img src={url}/topic-html.png>\n"
                  f"# heading\n- item $\\sqrt{{2}}$ :material/warning: :red[red] **bold** www.example.org "
                  f"{url}/auto.png mail@example.org &amp; `code`")
    doc_title = f"**Title** ![title]({url}/title.png)"
    doc_text = (f"First line ![doc]({url}/doc.png) <img src={url}/doc-html.png>\n\n"
                f"    indented | a | table |\n1. listed $e^x$ :material/bolt: [x]({url}/doc-link) {url}/doc-auto.png")
    warned_id = f"zz![warn]({url}/warn.png)"
    header = f"title: \"![meta]({url}/meta.png) <b>bold</b>\"\n"

    (files / "topics.jsonl").write_text("".join(
        json.dumps({"_id": q, "text": topic_text if q == query else f"plain topic {i}"}) + "\n"
        for i, q in enumerate(query_ids)))
    docs = [("d1", doc_title, doc_text), ("d2", "", "two"), ("d3", "", "three"), ("d4", "", "four")]
    (files / "corpus.jsonl").write_text("".join(json.dumps({"_id": d, "title": t, "text": x}) + "\n"
                                                for d, t, x in docs))
    grades = {"d1": 2, "d2": 1, "d3": 0, "d4": 2}
    (files / "qrels.txt").write_text("".join(f"{q} 0 {d} {g}\n" for q in query_ids for d, g in grades.items()))

    def run_file(name: str, order: list[str], extra: str = "", header_lines: str = "") -> Path:
        lines = [f"{q} Q0 {d} {r} {10 - r} {name}" for q in query_ids
                 for r, d in enumerate(order if q != "101" else order[::-1], start=1)]
        out = files / f"{name}.trec"
        out.write_text(header_lines + "\n".join(lines) + "\n" + extra)
        return out

    collection, run_a, run_b = "md@example.org", "a@example.org", "www.example.org"
    reranked = f"{run_b}__rr@2"
    store = Store(path)
    add_collection(store, collection, qrels=files / "qrels.txt", topics=files / "topics.jsonl",
                   docs=files / "corpus.jsonl")
    header_lines = f"# ir_metadata.start\n# {header}# ir_metadata.end\n"
    ingest_run(store, collection, run_file(run_b, ["d3", "d1", "d2", "d4"]), name=run_b)
    ingest_run(store, collection, run_file(run_a, ["d1", "d4", "d2", "d3"], f"{warned_id} Q0 d1 1 9 {run_a}\n",
                                           header_lines), name=run_a)
    ingest_run(store, collection, run_file(reranked, ["d1", "d3", "d2", "d4"]), name=reranked, kind="rerank",
               parent=run_b, depth=2)
    evaluate_runs(store, collection)
    return MarkupStore(path, collection, run_a, run_b, reranked, query, query_ids, topic_text, "d1", doc_title,
                       doc_text, warned_id, header)
