-- Idle GPU capacity and what it cost, per month and node group (never billed to tenants).
SELECT month,
       node_group,
       instance_type,
       capacity_type,
       SUM(node_gpu_hours)  AS node_gpu_hours,
       SUM(idle_gpu_hours)  AS idle_gpu_hours,
       ROUND(CAST(SUM(idle_gpu_hours) AS DOUBLE) / NULLIF(CAST(SUM(node_gpu_hours) AS DOUBLE), 0), 4) AS idle_ratio,
       SUM(idle_cost)       AS idle_cost
FROM capacity
GROUP BY month, node_group, instance_type, capacity_type
ORDER BY month, idle_cost DESC, node_group, instance_type, capacity_type
