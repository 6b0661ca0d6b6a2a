"""The lake: the store's collections, runs and scores as Delta Lake tables that many processes and machines
write and Ray, DuckDB, pandas or Spark read (docs/lake.md). Needs the `scale` extra (deltalake); nothing here is
imported by the local engine."""
