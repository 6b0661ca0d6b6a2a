"""Collections from local files (`from_files`) or ir_datasets ids (`from_ir_datasets`), as one `CollectionData`.

Nothing is read before it is asked for; an ir_datasets id is read from the files on disk only (see
`datasets.offline`), and a missing file is a one-line error naming where to put it.
"""

from workbench.datasets.sources import CollectionData, from_files, from_ir_datasets, infer_relevance_kind

__all__ = ["CollectionData", "from_files", "from_ir_datasets", "infer_relevance_kind"]
