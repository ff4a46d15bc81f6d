"""OTLP ``ExportTraceServiceRequest`` as binary protobuf.

Two layouts: the Collector file exporter's proto format (each message prefixed by its length as a
4-byte big-endian integer, repeated) and a bare single message (``.pb``/``.binpb`` dumps). Each
message is decoded with opentelemetry-proto's generated class, turned into a dict with
``MessageToDict`` and mapped by the same code as OTLP/JSON (base64 ids become hex there), so both
encodings give identical rows. Length-prefixed files are streamed message by message.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tracemill.errors import DataError
from tracemill.ingest.formats import Format, FormatOptions, Source, register
from tracemill.ingest.formats.otlp_json import request_items
from tracemill.ingest.records import Item, Rejected
from tracemill.ingest.semconv import ToolCallTracker

NAME = "otlp-proto"
_EXTENSIONS = (".pb", ".proto", ".binpb", ".otlp")
_FIELD1_LEN = 0x0A   # tag of field 1 (resource_spans), wire type 2: how every request starts


def _is_length_prefixed(head: bytes, size: int | None) -> bool:
    if len(head) < 5:
        return False
    n = int.from_bytes(head[:4], "big")
    return n > 0 and head[4] == _FIELD1_LEN and (size is None or n + 4 <= size)


def _decode(data: bytes, no: int) -> ExportTraceServiceRequest | Rejected:
    req = ExportTraceServiceRequest()
    try:
        req.ParseFromString(data)
    except (DecodeError, ValueError) as e:
        return Rejected("malformed_proto", f"message {no}: not an ExportTraceServiceRequest ({e})", data[:4096], no)
    return req


def _messages(source: Source, max_bytes: int) -> Iterator[tuple[int, bytes | Rejected]]:
    """(message number, bytes or Rejected) for each message, streaming length-prefixed files."""
    if _is_length_prefixed(source.head, source.size):
        with source.open() as fh:
            no = 0
            while True:
                prefix = fh.read(4)
                if not prefix:
                    return
                no += 1
                if len(prefix) < 4:
                    yield no, Rejected("malformed_proto", f"message {no}: truncated length prefix", prefix, no)
                    return
                n = int.from_bytes(prefix, "big")
                if n > max_bytes:
                    head = fh.read(4096)
                    try:
                        fh.seek(n - len(head), os.SEEK_CUR)
                    except (OSError, ValueError):  # not seekable: read past it in chunks
                        left = n - len(head)
                        while left > 0:
                            chunk = fh.read(min(left, 1 << 20))
                            if not chunk:
                                break
                            left -= len(chunk)
                    yield no, Rejected("oversized", f"message {no} is {n} bytes, over the {max_bytes}-byte limit", head, no)
                    continue
                data = fh.read(n)
                if len(data) < n:
                    yield no, Rejected("malformed_proto", f"message {no}: truncated ({len(data)} of {n} bytes)", data[:4096], no)
                    return
                yield no, data
    else:
        with source.open() as fh:
            data = fh.read(max_bytes + 1)
        if len(data) > max_bytes:
            yield 1, Rejected("oversized", f"{source.path} is a single protobuf message over the {max_bytes}-byte "
                              "limit; write length-prefixed messages instead", data[:4096], 1)
            return
        yield 1, data


def parse(source: Source, options: FormatOptions) -> Iterator[Item]:
    """Items of an OTLP protobuf file: spans, their tool calls and feedback, and rejected messages."""
    tracker = ToolCallTracker()
    decoded = 0
    for no, data in _messages(source, options.max_record_bytes):
        if isinstance(data, Rejected):
            yield data
            continue
        req = _decode(data, no)
        if isinstance(req, Rejected):
            if decoded == 0 and no == 1:
                raise DataError(f"{source.path} is not OTLP protobuf: {req.detail}", value=data[:64].hex(),
                                fix="pass the right --format, or --format auto to detect it")
            yield req
            continue
        decoded += 1
        yield from request_items(MessageToDict(req), fmt=NAME, line_no=no, tracker=tracker, raw=data[:4096])
    yield from tracker.finish()


def sniff(source: Source) -> bool:
    if source.path.lower().endswith(_EXTENSIONS):
        return True
    head = source.head
    if _is_length_prefixed(head, source.size):
        return True
    if not head or head[0] != _FIELD1_LEN:
        return False
    # A bare message: binary, and its head parses as far as it goes (complete files parse fully).
    try:
        head.decode("utf-8")
        return False   # text, not protobuf
    except UnicodeDecodeError:
        pass
    if source.size is not None and len(head) >= source.size:
        return not isinstance(_decode(head, 1), Rejected)
    return True


FORMAT = register(Format(
    name=NAME,
    description="OTLP ExportTraceServiceRequest as protobuf (Collector file exporter length-prefixed, or one message)",
    sniff=sniff,
    parse=parse,
    priority=20,
))
