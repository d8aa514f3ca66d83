// typescript-eslint's recommended rules over the product, the CDK app and the tests.
// Formatting is prettier's (prettier.config.js), not a lint rule.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "cdk.out/**", "out/**", ".tmp/**", "node_modules/**", "infra/cdk.out/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // The one plain-JavaScript entry point runs on Node.
    files: ["bin/**/*.mjs"],
    languageOptions: { globals: { URL: "readonly", console: "readonly", process: "readonly" } },
  },
  {
    rules: {
      // A leading underscore marks a binding kept for its position (a destructured rest, a callback's unused argument).
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", ignoreRestSiblings: true }],
    },
  },
  {
    // Tests read CloudFormation templates, Kubernetes objects and S3 records as the JSON they are.
    files: ["test/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
);
