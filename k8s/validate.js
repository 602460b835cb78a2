// Validates Kubernetes manifests (a JSON array on stdin) against the k8s 1.27 OpenAPI schemas
// shipped by the npm package kubernetes-models, and Prometheus Operator objects (monitoring.coreos.com)
// against @kubernetes-models/prometheus-operator. Exit 1 with the reasons on the first invalid one.
"use strict";
const path = require("path");
const modelsRoot = process.env.KUBERNETES_MODELS || "kubernetes-models";
const operatorRoot = process.env.KUBERNETES_MODELS
  ? path.join(path.dirname(process.env.KUBERNETES_MODELS), "@kubernetes-models", "prometheus-operator")
  : "@kubernetes-models/prometheus-operator";
let input = "";
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", () => {
  const docs = JSON.parse(input).filter((d) => d);
  let failed = 0;
  for (const doc of docs) {
    const where = `${doc.kind}/${doc.metadata && doc.metadata.name}`;
    let mod;
    try {
      mod = doc.apiVersion.startsWith("monitoring.coreos.com/")
        ? require(path.join(operatorRoot, doc.apiVersion))
        : require(path.join(modelsRoot, doc.apiVersion));
    } catch (e) {
      console.error(`${where}: no schema for apiVersion ${doc.apiVersion}`);
      failed++;
      continue;
    }
    const Model = mod[doc.kind];
    if (!Model) {
      console.error(`${where}: unknown kind ${doc.kind} in ${doc.apiVersion}`);
      failed++;
      continue;
    }
    try {
      new Model(doc).validate();
      console.log(`valid: ${doc.apiVersion} ${where}`);
    } catch (e) {
      console.error(`INVALID ${doc.apiVersion} ${where}: ${e.message}`);
      failed++;
    }
  }
  if (docs.length === 0) {
    console.error("no manifests to validate");
    process.exit(1);
  }
  process.exit(failed ? 1 : 0);
});
