"""Dataset versions: immutable, content-hashed, addressable by number, hash, tag and time; tamper-evident."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tracemill.datasets import (
    Example,
    ToolCallRef,
    add_examples,
    assign_split,
    delete_tag,
    diff_versions,
    list_versions,
    load_examples,
    remove_examples,
    resolve,
    set_tag,
    tag_history,
    version_hash,
)
from tracemill.errors import ConfigError, DataError, NotFoundError
from tracemill.warehouse import connect


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    """One warehouse for this module (a fresh one costs ~1.5 s CPU); each test uses its own dataset names."""
    from tracemill.settings import Settings

    c = connect(Settings(warehouse=str(tmp_path_factory.mktemp("wh") / "wh")))
    yield c
    c.close()


def ex(i: int, **kw) -> Example:
    base = dict(
        example_id=f"e{i:03d}",
        inputs={"messages": [{"role": "user", "content": f"question {i}"}]},
        reference_output={"answer": i, "ratio": i / 7},
        reference_trajectory=[ToolCallRef(name="lookup", arguments={"id": i, "nested": {"a": [1, 2]}})],
        metadata={"tags": ["critical"] if i % 5 == 0 else []},
        source_trace_id=f"tr{i}",
        cluster_id="fm_0001",
        mining_run_id="mine_x",
        promoted_at=datetime(2026, 11, 29, 10, 0, i % 60, 123456, tzinfo=UTC),
    )
    base.update(kw)
    return Example(**base)


def test_v1_reads_back_identically_after_ten_more_versions(con):
    v1 = add_examples(con, "golden", [ex(i) for i in range(10)], message="first", author="ana")
    _v, rows_v1 = load_examples(con, "golden@v1")
    for n in range(10):  # adds, changes and removals in turn
        if n % 3 == 0:
            add_examples(con, "golden", [ex(100 + n)], message=f"add {n}", author="ana")
        elif n % 3 == 1:
            add_examples(con, "golden", [ex(n, reference_output=f"changed {n}")], message=f"change {n}", author="ana")
        else:
            remove_examples(con, "golden", [f"e{n:03d}"], message=f"remove {n}", author="ana")
    assert resolve(con, "golden").version == 11
    again, rows_again = load_examples(con, "golden@v1")
    assert again == v1
    assert [r.model_dump() for r in rows_again] == [r.model_dump() for r in rows_v1]
    assert version_hash(rows_again) == v1.content_hash
    # the stored rows equal what was written (JSON-pure, UTC timestamps, hash-based split filled in)
    assert rows_again[3].reference_output == {"answer": 3, "ratio": 3 / 7}
    assert rows_again[3].promoted_at == ex(3).promoted_at
    assert rows_again[3].split == assign_split("e003")
    assert [v.version for v in list_versions(con, "golden")] == list(range(1, 12))


def test_refs_by_number_hash_tag_time_and_latest(con):
    v1 = add_examples(con, "refs", [ex(1)], message="one", author="a")
    v2 = add_examples(con, "refs", [ex(2)], message="two", author="a")
    assert v1.snapshot_id > 0 and v2.snapshot_id > v1.snapshot_id
    assert v1.content_hash != v2.content_hash and len(v1.content_hash) == 64
    assert resolve(con, "refs") == v2 and resolve(con, "refs@latest") == v2
    assert resolve(con, "refs@v1") == v1
    assert resolve(con, f"refs@{v1.content_hash[:8]}") == v1
    assert resolve(con, f"refs@{v1.created_at.isoformat()}") == v1
    assert resolve(con, (v2.created_at + timedelta(days=1)).strftime("refs@%Y-%m-%dT%H:%M:%S")) == v2
    set_tag(con, "refs@v1", "prod", author="rel")
    assert resolve(con, "refs@prod") == v1
    set_tag(con, "refs@v2", "prod", author="rel")  # tags move
    set_tag(con, "refs@v1", "candidate", author="rel")
    assert resolve(con, "refs@prod") == v2 and resolve(con, "refs@candidate") == v1
    assert [(m.tag, m.version) for m in tag_history(con, "refs", "prod")] == [("prod", 1), ("prod", 2)]
    delete_tag(con, "refs", "candidate", author="rel")
    with pytest.raises(NotFoundError):
        resolve(con, "refs@candidate")
    with pytest.raises(ConfigError):
        set_tag(con, "refs@v1", "v7", author="x")  # would shadow a version ref


def test_unknown_dataset_version_or_tag_lists_what_exists(con):
    add_examples(con, "alpha", [ex(1)], message="one", author="a")
    add_examples(con, "beta", [ex(1)], message="one", author="a")
    set_tag(con, "alpha@v1", "prod", author="a")
    with pytest.raises(NotFoundError) as e:
        resolve(con, "gamma@v1")
    assert "alpha" in str(e.value) and "beta" in str(e.value)
    with pytest.raises(NotFoundError) as e:
        resolve(con, "alpha@v9")
    assert "v1" in str(e.value)
    with pytest.raises(NotFoundError) as e:
        resolve(con, "alpha@staging")
    assert "prod->v1" in str(e.value) and "v1 (" in str(e.value)
    with pytest.raises(NotFoundError):
        resolve(con, "alpha@2001-01-01")
    with pytest.raises(ConfigError):
        resolve(con, "bad name@v1")


def test_tampering_is_detected_on_read(con):
    add_examples(con, "tamper", [ex(i) for i in range(3)], message="one", author="a")
    add_examples(con, "tamper", [ex(9)], message="two", author="a")
    con.execute("UPDATE dataset_examples SET reference_output = '\"forged\"' WHERE dataset_name = 'tamper' AND example_id = 'e001'")
    with pytest.raises(DataError, match=r"tamper@v1 failed its integrity check"):
        load_examples(con, "tamper@v1")
    with pytest.raises(DataError, match=r"tamper@v2"):
        load_examples(con, "tamper@v2")
    # a deleted row is caught too
    add_examples(con, "tamper-h", [ex(i) for i in range(3)], message="one", author="a")
    con.execute("DELETE FROM dataset_examples WHERE dataset_name = 'tamper-h' AND example_id = 'e002'")
    with pytest.raises(DataError, match="tamper-h@v1"):
        load_examples(con, "tamper-h@v1")


def test_diff_reports_added_removed_and_field_level_changes(con):
    add_examples(con, "diffs", [ex(1), ex(2), ex(3)], message="one", author="a")
    add_examples(con, "diffs", [ex(4), ex(2, reference_output="new", metadata={"tags": ["critical"]})], message="two", author="a")
    remove_examples(con, "diffs", ["e003"], message="three", author="a")
    d = diff_versions(con, "diffs@v1", "diffs@v3")
    assert d.added == ("e004",) and d.removed == ("e003",)
    assert set(d.changed) == {"e002"}
    changes = {c.field: (c.old, c.new) for c in d.changed["e002"]}
    assert changes == {"reference_output": ({"answer": 2, "ratio": 2 / 7}, "new"), "metadata.tags": ([], ["critical"])}
    assert "added: 1, removed: 1, changed: 1" in d.to_markdown()
    assert diff_versions(con, "diffs@v3", "diffs@v3").is_empty


def test_splits_are_stable_as_the_set_grows(con):
    add_examples(con, "splits", [ex(i, split=None) for i in range(50)], message="one", author="a")
    _v, first = load_examples(con, "splits")
    before = {e.example_id: e.split for e in first}
    assert set(before.values()) == {"train", "test"}
    add_examples(con, "splits", [ex(i, split=None) for i in range(50, 400)], message="grow", author="a")
    # re-upserting an existing example without a split keeps its split
    add_examples(con, "splits", [ex(1, split=None, reference_output="x")], message="edit", author="a")
    _v, after = load_examples(con, "splits")
    now = {e.example_id: e.split for e in after}
    assert all(now[i] == s for i, s in before.items())
    share = sum(s == "test" for s in now.values()) / len(now)
    assert 0.12 < share < 0.28
    # an explicit split is kept
    add_examples(con, "splits", [ex(900, split="holdout")], message="x", author="a")
    assert {e.example_id: e.split for e in load_examples(con, "splits")[1]}["e900"] == "holdout"


def test_unchanged_write_creates_no_version_and_bad_writes_are_refused(con):
    v1 = add_examples(con, "noop", [ex(1)], message="one", author="a")
    assert add_examples(con, "noop", [ex(1)], message="same again", author="a") == v1
    with pytest.raises(DataError):
        add_examples(con, "noop", [ex(2), ex(2)], message="dup", author="a")
    with pytest.raises(NotFoundError):
        remove_examples(con, "noop", ["nope"], message="rm", author="a")
    assert [v.version for v in list_versions(con, "noop")] == [1]


def test_promotion_without_mining_run_says_what_to_do(con):
    from tracemill.datasets import promote_from_clusters

    with pytest.raises(NotFoundError, match="no completed mining run"):
        promote_from_clusters(con, "support")
