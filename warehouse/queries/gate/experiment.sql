-- One experiment's header: what the comparison needs to pair it and name it.
SELECT experiment_id, name, dataset_name, dataset_version, dataset_hash, status, repetitions
FROM experiments
WHERE experiment_id = ?
