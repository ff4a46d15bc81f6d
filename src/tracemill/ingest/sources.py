"""Expand ingest PATHs (files, folders, globs, ``s3://`` prefixes) into ``Source`` objects."""

from __future__ import annotations

import glob as globlib
import gzip
import hashlib
import io
from pathlib import Path

from tracemill.errors import DataError
from tracemill.ingest.formats import Source

HEAD_BYTES = 64 * 1024
_SKIP_SUFFIXES = {".md", ".txt", ".py", ".sh", ".lock"}


_READ_BUFFER = 1 << 20


def _local_source(path: Path) -> Source:
    gz = path.suffix == ".gz"

    def opener():
        # A 1 MB buffer: an OTLP request line is often a megabyte or more, and reading it through the
        # default 8 KB buffer costs about three times as much CPU.
        return gzip.open(path, "rb") if gz else open(path, "rb", buffering=_READ_BUFFER)

    with opener() as fh:
        head = fh.read(HEAD_BYTES)
    return Source(path=str(path), opener=opener, head=head, size=path.stat().st_size)


def local_source(path: str) -> Source:
    """The ``Source`` of one local file (a parse worker re-opens its files by path)."""
    return _local_source(Path(path))


def _object_source(uri: str, con) -> Source:
    # Objects are read through DuckDB's httpfs (S3, GCS, R2, HTTP), so credentials follow DuckDB secrets.
    def opener():
        blob = con.execute("SELECT content FROM read_blob(?)", [uri]).fetchone()[0]
        data = gzip.decompress(blob) if uri.endswith(".gz") else blob
        return io.BytesIO(data)

    with opener() as fh:
        head = fh.read(HEAD_BYTES)
    return Source(path=uri, opener=opener, head=head)


def expand(paths: list[str], *, object_con=None) -> list[Source]:
    """All input files under the given paths, sorted, each once. Errors name a path that matched nothing."""
    out: dict[str, Source] = {}
    for raw in paths:
        if "://" in raw:
            if object_con is None:
                raise DataError("object-store paths need a warehouse connection with httpfs", value=raw)
            pattern = raw if any(ch in raw for ch in "*?[") else raw.rstrip("/") + "/**"
            files = [r[0] for r in object_con.execute("SELECT file FROM glob(?) ORDER BY file", [pattern]).fetchall()]
            if not files:
                raise DataError("no objects found under the prefix", value=raw, fix="check the bucket, prefix and credentials")
            for f in files:
                out.setdefault(f, _object_source(f, object_con))
            continue
        p = Path(raw).expanduser()
        if p.is_dir():
            matches = sorted(x for x in p.rglob("*") if x.is_file() and not x.name.startswith("."))
            matches = [x for x in matches if x.suffix not in _SKIP_SUFFIXES]
        elif p.is_file():
            matches = [p]
        else:
            matches = sorted(Path(x) for x in globlib.glob(raw, recursive=True) if Path(x).is_file())
        if not matches:
            raise DataError("nothing to ingest at this path", value=raw, fix="give a file, a folder, a glob or an s3:// prefix that exists")
        for m in matches:
            out.setdefault(str(m.resolve()), _local_source(m.resolve()))
    return [out[k] for k in sorted(out)]


def sha256_of(source: Source) -> str:
    """Content hash of the (decompressed) source, streamed."""
    h = hashlib.sha256()
    with source.open() as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
