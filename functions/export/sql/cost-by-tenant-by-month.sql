-- Cost by tenant by month (Athena: database gpu_billing, workgroup gpu-billing).
-- Exact decimals end to end: the sum of a tenant's rows is the tenant's line on the invoice.
SELECT month,
       tenant_id,
       tenant_name,
       currency,
       SUM(allocated_gpu_hours) AS allocated_gpu_hours,
       SUM(billable_gpu_hours)  AS billable_gpu_hours,
       SUM(cost)                AS cost
FROM chargeback
GROUP BY month, tenant_id, tenant_name, currency
ORDER BY month, tenant_id
