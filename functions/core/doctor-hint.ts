/**
 * What the meter's bad-input errors (UnbillableInputError, UnattributableSeriesError) point to:
 * the preflight that checks every cluster prerequisite and names its fix. One text, one place.
 */
export const DOCTOR_HINT =
  "`gpu-billing doctor --month YYYY-MM` checks every cluster prerequisite and names the fix (README: Cluster prerequisites)";
