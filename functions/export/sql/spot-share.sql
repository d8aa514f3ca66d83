-- Spot share of allocated GPU-hours and of cost, per month and tenant.
SELECT month,
       tenant_id,
       SUM(CASE WHEN capacity_type = 'spot' THEN allocated_gpu_hours ELSE 0 END) AS spot_gpu_hours,
       SUM(allocated_gpu_hours)                                                  AS gpu_hours,
       ROUND(CAST(SUM(CASE WHEN capacity_type = 'spot' THEN allocated_gpu_hours ELSE 0 END) AS DOUBLE)
             / NULLIF(CAST(SUM(allocated_gpu_hours) AS DOUBLE), 0), 4)           AS spot_share_of_gpu_hours,
       SUM(CASE WHEN capacity_type = 'spot' THEN cost ELSE 0 END)                AS spot_cost,
       SUM(cost)                                                                 AS cost
FROM chargeback
GROUP BY month, tenant_id
ORDER BY month, tenant_id
