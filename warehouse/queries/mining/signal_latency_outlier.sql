-- Signal latency_outlier: robust z-score of log latency within the same route (trace name), using
-- the median and MAD; flagged when z >= $z and latency >= $min_ratio x the route median, in routes
-- with at least $min_group traces.
WITH x AS (
    SELECT trace_id, coalesce(name, '(none)') AS route, latency_ms, ln(greatest(latency_ms, 1.0)) AS lx
    FROM mine_traces WHERE latency_ms IS NOT NULL
), g AS (
    SELECT route, count(*) AS n, median(lx) AS med, greatest(1.4826 * mad(lx), 0.05) AS scale,
           median(latency_ms) AS med_ms
    FROM x GROUP BY route
)
SELECT x.trace_id, 'latency_outlier' AS kind,
       json_object('latency_ms', round(x.latency_ms, 1), 'route', x.route,
                   'route_median_ms', round(g.med_ms, 1), 'ratio', round(x.latency_ms / greatest(g.med_ms, 1e-9), 2),
                   'robust_z', round((x.lx - g.med) / g.scale, 2), 'threshold_z', $z) AS evidence
FROM x JOIN g USING (route)
WHERE g.n >= $min_group
  AND x.latency_ms >= $min_ratio * g.med_ms
  AND (x.lx - g.med) / g.scale >= $z;
