-- The workbench store. One DuckDB file; SQL lives only in workbench/store/.
-- Big tables (run_rows, scores, qrels, documents) carry no constraints or indexes on purpose:
-- DuckDB's ART indexes cost more at 7M-row inserts than the scans they would save.
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);

CREATE TABLE IF NOT EXISTS collections (
    name            VARCHAR PRIMARY KEY,
    relevance_kind  VARCHAR NOT NULL,          -- 'graded' (TREC DL style) or 'binary' (BEIR style)
    qrels_hash      VARCHAR NOT NULL,          -- sha256 of the canonical qrels rows
    topics_hash     VARCHAR,
    docs_hash       VARCHAR,
    source          VARCHAR,                   -- JSON: where the qrels/topics/docs came from
    n_queries       INTEGER,
    n_judgments     BIGINT,
    n_topics        INTEGER,
    n_docs          BIGINT,
    created_at      TIMESTAMP DEFAULT current_timestamp,
    topic_field     VARCHAR,                   -- the topic field(s) the query text was made of ('title', ...)
    grade_map       VARCHAR,                   -- JSON [[grade as written, grade stored], ...] or NULL
    report          VARCHAR,                   -- JSON: topics vs judged queries, judgments per query, grades
    warnings        VARCHAR                    -- JSON list of strings: what the report found off
);

CREATE TABLE IF NOT EXISTS qrels (collection VARCHAR, query_id VARCHAR, doc_id VARCHAR, relevance BIGINT);
-- Named judgment sets of a collection beside its own qrels (`collection qrels add C NAME FILE`): other assessors,
-- LLM judgments, an older or newer version. Scores against them are keyed by their qrels_hash like any other.
CREATE TABLE IF NOT EXISTS qrels_sets (
    collection      VARCHAR NOT NULL,
    name            VARCHAR NOT NULL,
    qrels_hash      VARCHAR NOT NULL,          -- sha256 of the canonical rows (and the grade map, when one was given)
    source          VARCHAR,                   -- JSON: the file it was read from
    grade_map       VARCHAR,                   -- JSON [[grade as written, grade stored], ...] or NULL
    n_queries       INTEGER,
    n_judgments     BIGINT,
    created_at      TIMESTAMP DEFAULT current_timestamp,
    PRIMARY KEY (collection, name)
);
CREATE TABLE IF NOT EXISTS qrels_set_rows (collection VARCHAR, name VARCHAR, query_id VARCHAR, doc_id VARCHAR,
                                           relevance BIGINT);
-- Benchmarks: named groups of collections (`benchmark add NAME C1 C2 ...`, or a manifest's `benchmarks:`), in the
-- order given. A benchmark names its collections without owning them: removing either leaves the other alone.
CREATE TABLE IF NOT EXISTS benchmarks (
    name            VARCHAR PRIMARY KEY,
    description     VARCHAR,
    source          VARCHAR,                   -- JSON: {"cli": true} or {"manifest": path}
    created_at      TIMESTAMP DEFAULT current_timestamp
);
CREATE TABLE IF NOT EXISTS benchmark_collections (
    benchmark       VARCHAR NOT NULL,
    position        INTEGER NOT NULL,          -- 0-based, the column order of its leaderboard
    collection      VARCHAR NOT NULL,
    PRIMARY KEY (benchmark, position)
);
-- topics: the query text, and the TREC fields it was made of (NULL where the file had none, e.g. TSV)
CREATE TABLE IF NOT EXISTS topics (collection VARCHAR, query_id VARCHAR, text VARCHAR,
                                   title VARCHAR, description VARCHAR, narrative VARCHAR);
CREATE TABLE IF NOT EXISTS documents (collection VARCHAR, doc_id VARCHAR, title VARCHAR, text VARCHAR);

CREATE TABLE IF NOT EXISTS runs (
    collection      VARCHAR NOT NULL,
    name            VARCHAR NOT NULL,
    run_hash        VARCHAR NOT NULL,          -- sha256 of the run file's bytes; rows live under it
    kind            VARCHAR,
    parent          VARCHAR,                   -- for reranked runs: the first-stage run's name
    depth           INTEGER,                   -- for reranked runs: how many of the parent's docs were re-scored
    source_path     VARCHAR,
    run_tag         VARCHAR,
    n_queries       INTEGER,
    n_rows          BIGINT,
    metadata_header VARCHAR,                   -- the ir_metadata block, as written in the file
    params          VARCHAR,                   -- JSON
    software        VARCHAR,                   -- JSON
    warnings        VARCHAR,                   -- JSON list of strings
    ingested_at     TIMESTAMP DEFAULT current_timestamp,
    PRIMARY KEY (collection, name)
);

-- doc_id is stored uncompressed: compressing 7M mostly-distinct ids cost ~1.3 s of every MS MARCO-sized ingest
-- (DuckDB FSST/dictionary), for about 40% more space on that column.
-- position: the row's place in trec_eval's order within its query (score desc, doc_id desc), 1-based, computed
-- at ingest; rank is the file's rank column as written. Top-k reads filter on position instead of sorting.
CREATE TABLE IF NOT EXISTS run_rows (
    run_hash VARCHAR, query_id VARCHAR, doc_id VARCHAR USING COMPRESSION uncompressed, score DOUBLE, rank BIGINT,
    position INTEGER
);

-- Each run's rows at positions 1..100 again (connection.TOP_DEPTH), in the same order: every read that stops at a
-- position <= 100 (cutoff measures, the depth study, the fusion lab's default depth) scans these instead of the
-- whole run. run_rows keeps a run in file order, so its top 100 per query are spread over every row group and a
-- position filter cannot skip any (a tenth of the rows of a 1,000-deep run, read for the price of all of them).
CREATE TABLE IF NOT EXISTS run_top_rows (
    run_hash VARCHAR, query_id VARCHAR, doc_id VARCHAR USING COMPRESSION uncompressed, score DOUBLE, rank BIGINT,
    position INTEGER
);

-- One row per (run, qrels, measure, semantics, evaluator) that has been scored: the cache key.
CREATE TABLE IF NOT EXISTS score_sets (
    run_hash    VARCHAR NOT NULL,
    qrels_hash  VARCHAR NOT NULL,
    measure     VARCHAR NOT NULL,
    semantics   VARCHAR NOT NULL,
    evaluator   VARCHAR NOT NULL,
    n_queries   INTEGER,
    scored_at   TIMESTAMP DEFAULT current_timestamp,
    mean        DOUBLE,                    -- of the per-query values, kept here so a leaderboard reads one row
    total       DOUBLE,                    -- per (run, measure) instead of aggregating every per-query value
    PRIMARY KEY (run_hash, qrels_hash, measure, semantics, evaluator)
);

CREATE TABLE IF NOT EXISTS scores (
    run_hash    VARCHAR,
    qrels_hash  VARCHAR,
    measure     VARCHAR,
    semantics   VARCHAR,
    evaluator   VARCHAR,
    query_id    VARCHAR,
    value       DOUBLE
);
