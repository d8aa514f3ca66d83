// One format for the product, the CDK app and the tests; `npm run format` writes it, `npm test` checks it.
// 140 columns: the code reads as dense single-line expressions (PromQL, decimal arithmetic, table rows) that 80 would break apart.
export default {
  printWidth: 140,
};
