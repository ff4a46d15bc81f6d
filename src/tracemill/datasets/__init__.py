"""Versioned golden datasets: examples with lineage, immutable content-hashed versions, tags, diffs, splits.

- read/write: ``resolve``, ``load_examples`` (hash-checked), ``add_examples``, ``remove_examples``, ``write_version``
- refs: ``NAME``, ``NAME@v3``, ``NAME@<tag>``, ``NAME@<hash prefix>``, ``NAME@<ISO timestamp>``
- promotion: ``promote`` (clusters | query | feedback), with near-duplicate checks
- tags/diff/io: ``set_tag``, ``diff_versions``, ``import_file``, ``export_version``
"""

from tracemill.datasets.diff import DatasetDiff, diff_versions
from tracemill.datasets.example import Example, ToolCallRef
from tracemill.datasets.io import export_version, import_file, read_examples
from tracemill.datasets.promote import (
    PromotionResult,
    promote,
    promote_from_clusters,
    promote_from_feedback,
    promote_from_query,
)
from tracemill.datasets.splits import assign_split
from tracemill.datasets.store import (
    WriteResult,
    add_examples,
    load_examples,
    remove_examples,
    version_hash,
    write_version,
)
from tracemill.datasets.tags import delete_tag, set_tag, tag_history, tags
from tracemill.datasets.versions import DatasetVersion, list_versions, resolve

__all__ = [
    "DatasetDiff",
    "DatasetVersion",
    "Example",
    "PromotionResult",
    "ToolCallRef",
    "WriteResult",
    "add_examples",
    "assign_split",
    "delete_tag",
    "diff_versions",
    "export_version",
    "import_file",
    "list_versions",
    "load_examples",
    "promote",
    "promote_from_clusters",
    "promote_from_feedback",
    "promote_from_query",
    "read_examples",
    "remove_examples",
    "resolve",
    "set_tag",
    "tag_history",
    "tags",
    "version_hash",
    "write_version",
]
