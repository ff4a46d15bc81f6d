-- Insert a batch of results (registered as _tm_results), skipping any (experiment, example,
-- repetition) already stored: a resumed run never duplicates a finished result.
INSERT INTO experiment_results
SELECT b.*
FROM _tm_results AS b
ANTI JOIN experiment_results AS r
    ON r.experiment_id = b.experiment_id AND r.example_id = b.example_id AND r.repetition = b.repetition
