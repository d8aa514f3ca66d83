-- Cost and GPU-hours per month, cluster and tenant: which cluster a tenant's bill comes from.
-- The tenant's invoice line is the sum over its clusters (cost-by-tenant-by-month.sql).
-- Months metered before the cluster column (dataset schema 1) read cluster as NULL: shown as 'default'.
SELECT month,
       COALESCE(cluster, 'default') AS cluster,
       tenant_id,
       currency,
       SUM(allocated_gpu_hours) AS allocated_gpu_hours,
       SUM(billable_gpu_hours)  AS billable_gpu_hours,
       SUM(cost)                AS cost
FROM chargeback
GROUP BY month, COALESCE(cluster, 'default'), tenant_id, currency
ORDER BY month, cluster, tenant_id
