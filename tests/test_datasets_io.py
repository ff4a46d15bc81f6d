"""Import/export: real GSM8K and tau2-bench files, native round trips, OpenAI shapes, bad rows, the CLI."""

from __future__ import annotations

import json
from collections import Counter

import orjson
import pytest
from typer.testing import CliRunner

from tracemill.cli import app
from tracemill.datasets import export_version, import_file, list_versions, load_examples, read_examples
from tracemill.errors import DataError, NotFoundError
from tracemill.warehouse import connect


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One warehouse for this module (a fresh one costs ~1.5 s CPU); tests use distinct dataset names."""
    from tracemill.settings import Settings

    settings = Settings(warehouse=str(tmp_path_factory.mktemp("wh") / "wh"))
    c = connect(settings)
    yield settings, c
    c.close()


@pytest.fixture()
def con(shared):
    return shared[1]


def test_gsm8k_round_trip_gives_identical_hash_in_every_native_format(con, external, tmp_path):
    first = import_file(con, "gsm8k", external / "gsm8k" / "test.jsonl", author="ana").version
    assert first.n_examples == 1319
    _v, rows = load_examples(con, "gsm8k")
    janet = next(e for e in rows if e.inputs["question"].startswith("Janet’s ducks"))
    assert janet.reference_output.endswith("#### 18") and janet.split in ("train", "test")
    for fmt in ("jsonl", "parquet", "csv"):
        path = tmp_path / f"gsm8k.{fmt}"
        export_version(con, "gsm8k@v1", path)
        again = import_file(con, f"gsm8k-{fmt}", path, author="someone-else").version
        assert again.content_hash == first.content_hash, fmt
    # importing the same content into the same dataset again writes no new version
    import_file(con, "gsm8k", tmp_path / "gsm8k.csv", author="ana")
    assert [v.version for v in list_versions(con, "gsm8k")] == [1]


def test_openai_chat_and_evals_shapes(con, tmp_path):
    src = tmp_path / "ft.jsonl"
    src.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"},
                              {"role": "assistant", "content": "4"}]},
                {"messages": [{"role": "user", "content": "Capital of France?"}, {"role": "assistant", "content": "Paris"}]},
            ]
        )
        + "\n"
    )
    v1 = import_file(con, "chat", src, author="a", fmt="openai").version
    _v, rows = load_examples(con, "chat")
    assert {e.reference_output for e in rows} == {"4", "Paris"}
    out = tmp_path / "out.jsonl"
    export_version(con, "chat", out, fmt="openai")
    exported = [orjson.loads(line) for line in out.read_text().splitlines()]
    assert all(set(r) == {"messages"} and r["messages"][-1]["role"] == "assistant" for r in exported)
    assert import_file(con, "chat2", out, author="a", fmt="openai").version.content_hash == v1.content_hash
    evals = tmp_path / "evals.jsonl"
    export_version(con, "chat", evals, fmt="openai-evals")
    first = orjson.loads(evals.read_text().splitlines()[0])
    assert set(first) == {"input", "ideal"}
    assert import_file(con, "chat3", evals, author="a").version.content_hash == v1.content_hash


def test_tau2_tasks_become_trajectories_with_their_splits(con, external):
    tasks_path = external / "tau2-bench" / "retail" / "tasks.json"
    v = import_file(con, "tau2-retail", tasks_path, author="a").version
    tasks = json.loads(tasks_path.read_text())
    splits = json.loads((tasks_path.parent / "split_tasks.json").read_text())
    assert v.n_examples == len(tasks)
    _v, rows = load_examples(con, "tau2-retail")
    by_id = {e.inputs["task_id"]: e for e in rows}
    t0 = tasks[0]
    ex0 = by_id[t0["id"]]
    assert [(c.name, c.arguments) for c in ex0.reference_trajectory] == [
        (a["name"], a["arguments"]) for a in t0["evaluation_criteria"]["actions"]
    ]
    assert Counter(e.split for e in rows) == {"train": len(splits["train"]), "test": len(splits["test"])}
    assert all(by_id[i].split == "test" for i in splits["test"])


def test_bad_rows_are_reported_with_line_numbers_and_nothing_is_written(con, tmp_path):
    good = {"question": "What is 2+2?", "answer": "4"}
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps({"question": "", "answer": "x"}),
        json.dumps(["a", "list"]),
        json.dumps({"inputs": "should be an object"}),
        json.dumps(good),  # duplicate of line 1
        json.dumps({"question": "Fine?", "answer": "yes"}),
    ]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as e:
        import_file(con, "qa", bad, author="a")
    text = e.value.render()
    for n in (2, 3, 4, 5, 6):
        assert f"line {n}:" in text, (n, text)
    assert "line 1:" not in text and "line 7:" not in text
    assert "nothing was imported" in text
    assert con.execute("SELECT count(*) FROM dataset_examples WHERE dataset_name = 'qa'").fetchall()[0][0] == 0
    assert con.execute("SELECT count(*) FROM datasets WHERE name = 'qa'").fetchall()[0][0] == 0
    # CSV reports its line numbers too
    csv_path = tmp_path / "bad.csv"
    csv_path.write_text('example_id,inputs,reference_output\na,"{""q"": 1}",null\nb,{broken,null\n')
    with pytest.raises(DataError, match="line 3"):
        read_examples(csv_path)
    with pytest.raises(NotFoundError):
        read_examples(tmp_path / "missing.jsonl")


def test_cli_import_show_tag_diff_export(shared, external, tmp_path, monkeypatch):
    monkeypatch.setenv("TRACEMILL_WAREHOUSE", shared[0].warehouse)
    runner = CliRunner()
    qa = tmp_path / "qa.jsonl"
    rows = [orjson.loads(line) for line in (external / "gsm8k" / "test.jsonl").read_bytes().splitlines()[:5]]
    qa.write_text("\n".join(json.dumps(r) for r in rows[:3]) + "\n")
    r = runner.invoke(app, ["datasets", "import", "math", str(qa), "--author", "ana"])
    assert r.exit_code == 0, r.output
    assert "math@v1" in r.output
    qa.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert runner.invoke(app, ["datasets", "import", "math", str(qa), "--author", "ana"]).exit_code == 0
    r = runner.invoke(app, ["datasets", "tag", "math@v1", "prod", "--author", "rel"])
    assert r.exit_code == 0 and "math@prod -> math@v1" in r.output
    r = runner.invoke(app, ["datasets", "show", "math@prod"])
    assert r.exit_code == 0 and "math@v1" in r.output and "3 examples" in r.output and "prod" in r.output
    r = runner.invoke(app, ["datasets", "diff", "math@prod", "math"])
    assert r.exit_code == 0 and "+2 added" in r.output
    r = runner.invoke(app, ["datasets", "versions", "math"])
    assert r.exit_code == 0 and "v2" in r.output and "prod" in r.output
    r = runner.invoke(app, ["datasets", "list"])
    assert r.exit_code == 0 and "math" in r.output and "prod->v1" in r.output
    out = tmp_path / "math.parquet"
    r = runner.invoke(app, ["datasets", "export", "math@v2", str(out)])
    assert r.exit_code == 0 and out.exists()
    r = runner.invoke(app, ["datasets", "show", "math@nope"])
    assert r.exit_code != 0
    assert "prod->v1" in str(r.exception)
