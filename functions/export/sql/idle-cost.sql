-- Idle GPU capacity and what it cost, per month, cluster and node group (never billed to tenants).
-- A node group is a cluster's own: the same name in two clusters is two groups.
-- Months metered before the cluster column (dataset schema 1) read cluster as NULL: shown as 'default'.
SELECT month,
       COALESCE(cluster, 'default') AS cluster,
       node_group,
       instance_type,
       capacity_type,
       SUM(node_gpu_hours)  AS node_gpu_hours,
       SUM(idle_gpu_hours)  AS idle_gpu_hours,
       ROUND(CAST(SUM(idle_gpu_hours) AS DOUBLE) / NULLIF(CAST(SUM(node_gpu_hours) AS DOUBLE), 0), 4) AS idle_ratio,
       SUM(idle_cost)       AS idle_cost
FROM capacity
GROUP BY month, COALESCE(cluster, 'default'), node_group, instance_type, capacity_type
ORDER BY month, idle_cost DESC, cluster, node_group, instance_type, capacity_type
