-- Posts still to deliver, oldest first: pending ones, plus given-up (failed) ones when the first
-- parameter is true; the second and third (the same subject id, or NULL) narrow to one subject.
SELECT post_id, subject_id, target, destination, payload, status, attempts, created_at
FROM post_outbox
WHERE (status = 'pending' OR (? AND status = 'failed'))
  AND (? IS NULL OR subject_id = ?)
ORDER BY created_at, post_id
