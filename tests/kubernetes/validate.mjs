// Schema check of Kubernetes manifests (deploy/kubernetes/ by default, or the folder given):
// every document is validated against the Kubernetes and KEDA schemas of the kubernetes-models
// packages (installed by scripts/install-deps.sh; no network here), then the files are checked
// against each other: the ScaledObject scales a Deployment of the folder, its metrics-api URL
// names an autoscaled upstream of the ConfigMap's scalegate.yaml with the same target, and the
// secrets it names exist. Prints one line per document; exits 1 on the first kind of failure.
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments, parse } from "yaml";
import * as core from "kubernetes-models/v1";
import * as apps from "kubernetes-models/apps/v1";
import * as keda from "@kubernetes-models/keda/keda.sh/v1alpha1";

const models = {
  "v1/ConfigMap": core.ConfigMap,
  "v1/Secret": core.Secret,
  "v1/Service": core.Service,
  "apps/v1/Deployment": apps.Deployment,
  "keda.sh/v1alpha1/ScaledObject": keda.ScaledObject,
  "keda.sh/v1alpha1/TriggerAuthentication": keda.TriggerAuthentication,
};

const here = fileURLToPath(new URL(".", import.meta.url));
const folder = resolve(process.argv[2] ?? join(here, "..", "..", "deploy", "kubernetes"));
const problems = [];
const objects = [];

for (const file of readdirSync(folder).filter((f) => /\.ya?ml$/.test(f)).sort()) {
  const documents = parseAllDocuments(readFileSync(join(folder, file), "utf8"));
  for (const document of documents) {
    const where = `${file}:${document.contents?.range?.[0] ?? 0}`;
    if (document.errors.length > 0) {
      problems.push(`${file}: YAML: ${document.errors[0].message}`);
      continue;
    }
    const object = document.toJS();
    if (object === null) continue;
    const type = `${object.apiVersion}/${object.kind}`;
    const Model = models[type];
    if (!Model) {
      problems.push(`${where}: no schema for ${type} (known: ${Object.keys(models).join(", ")})`);
      continue;
    }
    try {
      new Model(object).validate();
      objects.push({ file, type, object });
      console.log(`ok ${file} ${object.kind} ${object.metadata?.name}`);
    } catch (error) {
      problems.push(`${file}: ${object.kind} ${object.metadata?.name}: ${error.message}`);
    }
  }
}

const named = (type, name) =>
  objects.find((o) => o.type === type && o.object.metadata?.name === name);

// The gateway config inside the ConfigMaps, by upstream name.
const upstreams = {};
for (const { file, object } of objects.filter((o) => o.type === "v1/ConfigMap")) {
  const text = object.data?.["scalegate.yaml"];
  if (text === undefined) continue;
  try {
    Object.assign(upstreams, parse(text)?.upstreams ?? {});
  } catch (error) {
    problems.push(`${file}: scalegate.yaml: ${error.message}`);
  }
}

for (const { file, object } of objects.filter((o) => o.type === "keda.sh/v1alpha1/ScaledObject")) {
  const target = object.spec.scaleTargetRef;
  if ((target.kind ?? "Deployment") === "Deployment" && !named("apps/v1/Deployment", target.name)) {
    problems.push(`${file}: ScaledObject ${object.metadata.name} scales Deployment ${target.name}, which no file defines`);
  }
  for (const trigger of object.spec.triggers) {
    if (trigger.type !== "metrics-api") continue;
    const match = /\/admin\/autoscale\/([^/?]+)$/.exec(trigger.metadata?.url ?? "");
    const upstream = match && upstreams[match[1]];
    if (!upstream?.autoscale) {
      problems.push(`${file}: metrics-api url ${trigger.metadata?.url} names no autoscaled upstream of scalegate.yaml`);
      continue;
    }
    const rps = upstream.autoscale.target?.rps_per_server;
    if (rps !== undefined && Number(trigger.metadata.targetValue) !== Number(rps)) {
      problems.push(`${file}: targetValue ${trigger.metadata.targetValue} differs from rps_per_server ${rps}`);
    }
    if (trigger.metadata.valueLocation !== "value") {
      problems.push(`${file}: valueLocation must be "value" (the field of /admin/autoscale/{upstream} KEDA reads)`);
    }
    const auth = trigger.authenticationRef?.name;
    const triggerAuth = auth && named("keda.sh/v1alpha1/TriggerAuthentication", auth);
    if (auth && !triggerAuth) problems.push(`${file}: TriggerAuthentication ${auth} is not defined`);
    for (const ref of triggerAuth?.object.spec.secretTargetRef ?? []) {
      if (!named("v1/Secret", ref.name)) problems.push(`${file}: Secret ${ref.name} is not defined`);
    }
  }
}

if (objects.length === 0) problems.push(`${folder}: no manifests`);
for (const problem of problems) console.error(`error: ${problem}`);
process.exit(problems.length > 0 ? 1 : 0);
