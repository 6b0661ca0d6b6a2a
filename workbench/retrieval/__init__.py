"""Run producers: BM25 (Anserini), dense (sentence-transformers + faiss), fusion and reranking.

Each producer is a pure function from Arrow tables (docs, topics, runs) to a `RetrievalResult`: a run table in
`RUN_SCHEMA` plus the `params` and `software` that made it (for the run's ir_metadata header). Nothing here touches
the store or prints. Import each from its module (`workbench.retrieval.bm25.bm25_search`, `.dense.dense_search`,
`.fuse.fuse`, `.rerank.rerank`; the shared helpers are in `.base`): the package itself imports nothing, so that
the step schemas (`workbench.retrieval.steps`), which the CLI's parser reads, cost no pyarrow, numpy or DuckDB at
`workbench --help` (issue 21). Heavy libraries (Java, torch, faiss) are imported inside the functions that need
them (tests/test_retrieval_units.py checks both).

Every run comes out in trec_eval order: per query, score descending, ties by doc_id descending, with `rank`
1..n in that order, so the rank column and the order trec_eval scores never disagree.
"""
