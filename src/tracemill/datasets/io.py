"""Import and export datasets: JSONL, Parquet, CSV, the OpenAI chat (fine-tuning) and evals JSONL shapes,
simple question/answer files (e.g. GSM8K) and tau2-bench task files.

Native files (jsonl/parquet/csv) carry every Example field, so import -> export -> import gives the identical
content hash. Imports validate every row first and write nothing if any row is bad (errors name line numbers).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import ValidationError

from tracemill.datasets.example import Example, ToolCallRef
from tracemill.datasets.store import WriteResult, _read_rows, head_version, load_examples, write_version
from tracemill.datasets.versions import DatasetVersion, check_name
from tracemill.errors import ConfigError, DataError, NotFoundError
from tracemill.lineage import content_hash

FORMATS = ("auto", "jsonl", "parquet", "csv", "openai", "openai-evals", "qa", "tau2")
FIELDS = tuple(Example.model_fields)
_JSON_FIELDS = tuple(f for f in FIELDS if f != "example_id")
_MAX_ERRORS = 50


def _fmt_for(path: Path, fmt: str) -> str:
    if fmt not in FORMATS:
        raise ConfigError("unknown dataset file format", value=fmt, fix=f"use one of {', '.join(FORMATS)}")
    if fmt != "auto":
        return fmt
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return "parquet"
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise ConfigError(
        "cannot tell the file format from its name", value=str(path),
        fix=f"use a .jsonl/.parquet/.csv name or pass --format ({', '.join(FORMATS[1:])})",
    )


# --- export ---------------------------------------------------------------------------------------


def _native(ex: Example) -> dict[str, Any]:
    return ex.model_dump(mode="json")


def _messages_of(ex: Example) -> list[dict[str, Any]]:
    msgs = ex.inputs.get("messages")
    if isinstance(msgs, list):
        return list(msgs)
    values = list(ex.inputs.values())
    text = values[0] if len(values) == 1 and isinstance(values[0], str) else orjson.dumps(ex.inputs).decode()
    return [{"role": "user", "content": text}]


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def export_version(con: duckdb.DuckDBPyConnection, ref: str, path: str | Path, *, fmt: str = "auto") -> tuple[DatasetVersion, int]:
    """Write the (hash-checked) examples of ``ref`` to ``path``, sorted by example_id. Returns (version, rows)."""
    path = Path(path)
    fmt = _fmt_for(path, fmt)
    if fmt in ("qa", "tau2"):
        raise ConfigError(f"{fmt} is an import-only format", value=fmt, fix="export as jsonl, parquet, csv, openai or openai-evals")
    version, examples = load_examples(con, ref)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    if fmt == "jsonl":
        tmp.write_bytes(b"".join(orjson.dumps(_native(e), option=orjson.OPT_SORT_KEYS) + b"\n" for e in examples))
    elif fmt == "openai":
        lines = []
        for e in examples:
            msgs = _messages_of(e)
            if e.reference_output is not None:
                msgs.append({"role": "assistant", "content": _as_text(e.reference_output)})
            lines.append(orjson.dumps({"messages": msgs}) + b"\n")
        tmp.write_bytes(b"".join(lines))
    elif fmt == "openai-evals":
        tmp.write_bytes(b"".join(
            orjson.dumps({"input": _messages_of(e), "ideal": _as_text(e.reference_output)}) + b"\n" for e in examples
        ))
    else:
        rows = [_flat(e) for e in examples]
        if fmt == "csv":
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=list(FIELDS), lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
            tmp.write_text(buf.getvalue(), encoding="utf-8")
        else:
            table = pa.table({f: [r[f] for r in rows] for f in FIELDS}, schema=pa.schema([(f, pa.string()) for f in FIELDS]))
            pq.write_table(table, tmp)
    tmp.replace(path)  # never leave a half-written export under the real name
    return version, len(examples)


def _flat(ex: Example) -> dict[str, str]:
    # Tabular formats hold each non-id field as JSON text, so types survive (None vs "", numbers vs strings).
    d = _native(ex)
    return {"example_id": ex.example_id, **{f: orjson.dumps(d[f], option=orjson.OPT_SORT_KEYS).decode() for f in _JSON_FIELDS}}


# --- import ---------------------------------------------------------------------------------------


class _Errors:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[str] = []

    def add(self, where: str, msg: str) -> None:
        self.items.append(f"{where}: {msg}")

    def raise_if_any(self) -> None:
        if self.items:
            shown = self.items[:_MAX_ERRORS]
            raise DataError(
                f"{len(self.items)} bad rows in {self.path.name}; nothing was imported",
                value=shown,
                fix="fix or remove those rows and import again:\n    " + "\n    ".join(shown),
            )


def _derived_id(inputs: dict[str, Any]) -> str:
    return "ex_" + content_hash(inputs)[:16]


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        e = exc.errors()[0]
        loc = ".".join(str(p) for p in e["loc"])
        return f"{loc}: {e['msg']}" + (f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else "")
    return str(exc).splitlines()[0]


def _row_to_example(
    row: Any, fmt: str, *, input_fields: list[str] | None, output_field: str | None
) -> Example:
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    if fmt == "jsonl":  # pick the shape per row
        if input_fields:
            fmt = "qa"
        elif "inputs" in row:
            fmt = "native"
        elif "messages" in row:
            fmt = "openai"
        elif "input" in row and "ideal" in row:
            fmt = "openai-evals"
        elif "question" in row and "answer" in row:
            fmt = "qa"
        else:
            raise ValueError(
                f"cannot tell which fields are the inputs (keys: {sorted(row)[:10]}); "
                "pass --inputs FIELD[,FIELD] and --output FIELD"
            )
    if fmt == "native":
        data = dict(row)
        if not isinstance(data.get("inputs"), dict):
            raise ValueError("'inputs' must be a JSON object")
        data.setdefault("example_id", _derived_id(data["inputs"]))
        unknown = set(data) - set(FIELDS)
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}")
        return Example.model_validate(data)
    if fmt == "openai":
        msgs = row.get("messages")
        if not isinstance(msgs, list) or not msgs or not all(isinstance(m, dict) and "role" in m for m in msgs):
            raise ValueError("'messages' must be a non-empty list of {role, content} objects")
        ref = None
        if msgs[-1].get("role") == "assistant":
            ref, msgs = msgs[-1].get("content"), msgs[:-1]
        if not msgs:
            raise ValueError("no input messages before the final assistant message")
        inputs = {"messages": msgs}
        return Example(example_id=_derived_id(inputs), inputs=inputs, reference_output=ref)
    if fmt == "openai-evals":
        msgs = row.get("input")
        if isinstance(msgs, str):
            msgs = [{"role": "user", "content": msgs}]
        if not isinstance(msgs, list) or not msgs:
            raise ValueError("'input' must be a non-empty list of messages or a string")
        inputs = {"messages": msgs}
        return Example(example_id=_derived_id(inputs), inputs=inputs, reference_output=row.get("ideal"))
    if fmt == "qa":
        ins = input_fields or ["question"]
        out = output_field or "answer"
        missing = [f for f in ins if f not in row]
        if missing:
            raise ValueError(f"missing input field(s) {missing}")
        inputs = {f: row[f] for f in ins}
        if any(v is None or v == "" for v in inputs.values()):
            raise ValueError(f"empty input field in {ins}")
        metadata = {k: v for k, v in row.items() if k not in ins and k != out}
        return Example(example_id=_derived_id(inputs), inputs=inputs, reference_output=row.get(out), metadata=metadata)
    raise ConfigError("unsupported import format for rows", value=fmt)


def _jsonl_rows(path: Path, errors: _Errors) -> Iterator[tuple[str, Any]]:
    with path.open("rb") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield f"line {n}", orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                errors.add(f"line {n}", f"malformed JSON ({exc})")


def _tabular_rows(path: Path, fmt: str, errors: _Errors) -> Iterator[tuple[str, Any]]:
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = {"example_id", "inputs"} - set(reader.fieldnames or [])
            if missing:
                errors.add("line 1", f"header lacks columns {sorted(missing)}")
                return
            for rec in reader:
                yield f"line {reader.line_num}", _unflatten(rec, f"line {reader.line_num}", errors)
    else:
        try:
            table = pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as exc:
            errors.add("file", f"not a readable Parquet file ({_short(exc)})")
            return
        for n, rec in enumerate(table.to_pylist(), start=1):
            yield f"row {n}", _unflatten(rec, f"row {n}", errors)


def _unflatten(rec: dict[str, Any], where: str, errors: _Errors) -> Any:
    out: dict[str, Any] = {}
    for k, v in rec.items():
        if k is None:
            errors.add(where, "more cells than header columns")
            return None
        if k == "example_id" or v is None or v == "":
            out[k] = v if v != "" else None
            continue
        try:
            out[k] = orjson.loads(v) if isinstance(v, str) else v
        except orjson.JSONDecodeError:
            errors.add(where, f"column {k!r} is not valid JSON: {v[:60]!r}")
            return None
    return {k: v for k, v in out.items() if v is not None or k in ("reference_output",)}


def _tau2_examples(path: Path, splits_path: Path | None, errors: _Errors) -> list[tuple[str, Example]]:
    try:
        tasks = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        errors.add("file", f"malformed JSON ({exc})")
        return []
    if not isinstance(tasks, list):
        errors.add("file", "a tau2 tasks file is a JSON array of tasks")
        return []
    splits_path = splits_path or path.with_name("split_tasks.json")
    split_of: dict[str, str] = {}
    if splits_path.is_file():
        for split, ids in orjson.loads(splits_path.read_bytes()).items():
            if split == "base":  # 'base' lists every task; train/test are the real partition
                continue
            for i in ids:
                split_of[str(i)] = split
    out = []
    for n, task in enumerate(tasks, start=1):
        where = f"task {n}"
        try:
            if not isinstance(task, dict) or "id" not in task:
                raise ValueError("a task must be an object with an 'id'")
            where = f"task {n} (id {task['id']})"
            crit = task.get("evaluation_criteria") or {}
            actions = crit.get("actions") or []
            scenario = task.get("user_scenario") or {}
            instructions = scenario.get("instructions") or {}
            domain = instructions.get("domain") if isinstance(instructions, dict) else None
            inputs: dict[str, Any] = {"task_id": str(task["id"]), "user_scenario": scenario}
            if task.get("initial_state") is not None:
                inputs["initial_state"] = task["initial_state"]
            ref = {k: crit[k] for k in ("communicate_info", "nl_assertions") if crit.get(k)}
            ex = Example(
                example_id=f"tau2-{domain or 'task'}-{task['id']}",
                inputs=inputs,
                reference_output=ref or None,
                reference_trajectory=[ToolCallRef(name=a["name"], arguments=a.get("arguments") or {}) for a in actions],
                metadata={
                    "source": "tau2-bench",
                    "domain": domain,
                    "description": task.get("description"),
                    "reward_basis": crit.get("reward_basis"),
                    "action_ids": [a.get("action_id") for a in actions],
                },
                split=split_of.get(str(task["id"])),
            )
            out.append((where, ex))
        except (ValidationError, ValueError, KeyError, TypeError) as exc:
            errors.add(where, _short(exc))
    return out


def read_examples(
    path: str | Path,
    *,
    fmt: str = "auto",
    input_fields: list[str] | None = None,
    output_field: str | None = None,
    splits_path: str | Path | None = None,
) -> list[Example]:
    """Parse and validate a dataset file; raise DataError listing every bad row (with line numbers)."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError("import file not found", value=str(path), fix="check the path")
    fmt = _fmt_for(path, fmt)
    errors = _Errors(path)
    located: list[tuple[str, Example]] = []
    if fmt == "jsonl" and path.suffix.lower() == ".json":
        data = None
        try:
            data = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            errors.add("file", f"malformed JSON ({exc})")
        if isinstance(data, list) and data and isinstance(data[0], dict) and "evaluation_criteria" in data[0]:
            fmt = "tau2"
    if fmt == "tau2":
        located = _tau2_examples(path, Path(splits_path) if splits_path else None, errors)
    else:
        if fmt in ("parquet", "csv"):
            rows = _tabular_rows(path, fmt, errors)
            row_fmt = "native"
        elif path.suffix.lower() == ".json":
            data = orjson.loads(path.read_bytes()) if not errors.items else []
            rows = ((f"item {i}", r) for i, r in enumerate(data if isinstance(data, list) else [data], start=1))
            row_fmt = fmt
        else:
            rows = _jsonl_rows(path, errors)
            row_fmt = fmt
        for where, row in rows:
            if row is None:
                continue
            try:
                located.append((where, _row_to_example(row, row_fmt, input_fields=input_fields, output_field=output_field)))
            except (ValidationError, ValueError, TypeError) as exc:
                errors.add(where, _short(exc))
    seen: dict[str, str] = {}
    for where, ex in located:
        if ex.example_id in seen:
            errors.add(where, f"duplicate example_id {ex.example_id!r} (first at {seen[ex.example_id]})")
        else:
            seen[ex.example_id] = where
    if not located and not errors.items:
        errors.add("file", "no rows")
    errors.raise_if_any()
    return [ex for _, ex in located]


def import_file(
    con: duckdb.DuckDBPyConnection,
    name: str,
    path: str | Path,
    *,
    author: str,
    fmt: str = "auto",
    input_fields: list[str] | None = None,
    output_field: str | None = None,
    splits_path: str | Path | None = None,
    replace: bool = False,
    message: str | None = None,
) -> WriteResult:
    """Import a file into dataset ``name`` as one new version (upsert by example_id; ``replace`` also removes
    examples not in the file). All rows are validated first: any bad row means nothing is written."""
    check_name(name)
    examples = read_examples(path, fmt=fmt, input_fields=input_fields, output_field=output_field, splits_path=splits_path)
    removals: list[str] = []
    if replace:
        head = head_version(con, name)
        if head:
            keep = {e.example_id for e in examples}
            removals = [e.example_id for e in _read_rows(con, name, head) if e.example_id not in keep]
    return write_version(
        con, name, upserts=examples, removals=removals, author=author,
        message=message or f"import {Path(path).name} ({len(examples)} rows)",
        source=f"import:{fmt}", config={"import": Path(path).name, "fmt": fmt, "replace": replace},
    )
