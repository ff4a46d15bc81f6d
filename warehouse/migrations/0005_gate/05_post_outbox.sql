-- table: post_outbox
-- grain: one row per post to deliver (post_id): a comparison or gate result to publish on one target.
-- Written before any delivery attempt, so a failed post is never lost; its status, attempts and
-- last error are updated after each delivery attempt. Secrets are never stored here.
CREATE TABLE IF NOT EXISTS post_outbox (
    post_id VARCHAR NOT NULL,
    subject_id VARCHAR NOT NULL,        -- gate_id or comparison_id
    target VARCHAR NOT NULL,            -- github | slack
    destination VARCHAR NOT NULL,       -- owner/repo#pr for github, a webhook name for slack
    payload JSON NOT NULL,              -- {"markdown": ..., "text": ...}
    status VARCHAR NOT NULL,            -- pending | sent | failed (gave up; retry with --include-failed)
    attempts INTEGER NOT NULL,
    last_error VARCHAR,
    response JSON,                      -- e.g. {"comment_id": 1, "url": ...} once sent
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    sent_at TIMESTAMPTZ,
    schema_version INTEGER NOT NULL
);
