#!/usr/bin/env python3
"""Validate the Argo Workflows resources written by `precheck pipeline export --argo DIR`.

    argo_validate.py [-p NAME=VALUE ...] DIR   exit 0, "argo-validate: N resources ok"; or exit 1
                                               and every problem as "FILE: path.to.field: what"
    argo_validate.py --self-test               a valid example passes, single mutations are caught

DIR holds *.yaml files (also in subdirectories), one resource each: kind Workflow or WorkflowTemplate, argoproj.io/v1alpha1.
1. Schema: hera 7.1.0's Pydantic models generated from Argo's OpenAPI spec (hera/workflows/models/io/
   argoproj/workflow/v1alpha1.py, from argo-workflows-4.0.5.json), made strict: unknown fields are
   errors (typos too), only camelCase wire names are accepted, types are JSON-strict (a number
   where a string belongs is an error; IntOrString fields take either).
2. Argo's own rules, from argoproj/argo-workflows workflow/validate/validate.go: template and task
   names match [a-zA-Z0-9][-a-zA-Z0-9]*, <= 128 chars (workflowFieldNameFmt), unique; parameter
   names match [-a-zA-Z0-9_]+ (paramOrArtifactNameRegex), unique per list; no task name begins with
   a digit in a DAG that uses depends; metadata.name <= 63 chars (maxCharsInObjectName); entrypoint,
   onExit, template and templateRef resolve; one of template/templateRef per task; depends names
   tasks of its DAG, .AnySucceeded/.AllFailed only on looping tasks, no cycle; a Workflow's
   spec.arguments and every task argument have a value (validateArgumentsValues: `-p NAME=VALUE`
   supplies one, as `argo submit -p` does), inside enum if any; a DAG has a task; activeDeadlineSeconds
   only on leaf templates, parallelism not on them; retryPolicy is one Argo knows; one of withItems,
   withParam, withSequence. From Kubernetes (apimachinery validation): metadata.name and
   generateName (may end in '-') are DNS-1123 subdomains; label keys and values are valid.
3. Ours, narrower than Argo because the exporter emits only this: each template is a container or a
   dag; {{workflow.parameters.X}} is declared in the resource's spec.arguments and in every resource
   reaching it by templateRef, even through other WorkflowTemplates (Argo resolves it against the
   running Workflow); {{inputs.parameters.X}} is an input of the enclosing template; {{item}} only in
   a DAG task with withItems/withParam; no other {{...}}; a task passes every input of its callee
   without value/default, and nothing the callee does not declare.
It cannot run Argo's Go validator or controller: run-time matters (evaluating `when`, withParam
JSON, images, RBAC) are unchecked, and the installed Argo's CRD may differ from the published model.
"""
import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

import yaml
from hera.shared._pydantic import APIBaseModel

# Pydantic copies a base's model_config into each subclass when the subclass is created, so this
# must run before hera's generated models are imported: patching afterwards changes nothing.
if "hera.workflows.models" in sys.modules:
    raise RuntimeError("hera's Argo models were imported before the config patch")
APIBaseModel.model_config.update(extra="forbid", populate_by_name=False, validate_by_name=False, validate_by_alias=True)
from hera.workflows.models.io.argoproj.workflow.v1alpha1 import Workflow, WorkflowTemplate  # noqa: E402
from pydantic import ValidationError  # noqa: E402

if Workflow.model_config.get("extra") != "forbid":
    raise RuntimeError("the hera model config patch did not take effect")

MODELS = {"Workflow": Workflow, "WorkflowTemplate": WorkflowTemplate}
FIELD_NAME, PARAM_NAME = re.compile(r"[a-zA-Z0-9][-a-zA-Z0-9]*"), re.compile(r"[-a-zA-Z0-9_]+")
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
LABEL_PART = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
TEMPLATE_KINDS = (
    "container", "containerSet", "dag", "data", "http", "plugin", "resource", "script", "steps", "suspend")
RETRY_POLICIES = ("Always", "OnFailure", "OnError", "OnTransientError")
RESULTS = ("Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned", "AnySucceeded", "AllFailed")
LOOPS = ("withItems", "withParam", "withSequence")
DEPENDS_TOKEN = re.compile(r"\s*(?:&&|\|\||[!()]|([A-Za-z0-9][-A-Za-z0-9]*)(?:\.([A-Za-z]+))?)")
EXPR, IN_TASK = re.compile(r"{{(.*?)}}"), re.compile(r"spec\.templates\.(\d+)(?:\.dag\.tasks\.(\d+))?")


def L(x):
    return x if isinstance(x, list) else []


def D(x):
    return x if isinstance(x, dict) else {}


def strings(node, path=""):
    """Yield (dotted path, string) for every string value in a YAML tree."""
    if isinstance(node, str):
        yield path, node
    for k, v in node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ():
        yield from strings(v, f"{path}.{k}" if path else str(k))


class Checker:
    def __init__(self, given):
        self.given, self.problems = given, []  # given: NAME -> VALUE supplied at submit time (-p)
        self.declared, self.uses, self.refs, self.wts, self.docs = {}, {}, {}, {}, {}

    def err(self, f, path, msg):
        if f"{f}: {path}: {msg}" not in self.problems:
            self.problems.append(f"{f}: {path}: {msg}")

    def run(self, directory):
        for p in sorted(Path(directory).rglob("*.yaml")):
            try:
                docs = list(yaml.safe_load_all(p.read_text()))
            except yaml.YAMLError as e:
                docs = [f"not valid YAML: {e}".replace("\n", " ")]
            if len(docs) == 1 and isinstance(docs[0], dict):
                self.docs[str(p.relative_to(directory))] = docs[0]
            else:
                self.err(p.name, "-", docs[0] if docs and isinstance(docs[0], str) else "must hold one resource")
        for f, d in self.docs.items():
            name = str(D(d.get("metadata")).get("name"))
            if d.get("kind") == "WorkflowTemplate" and name in self.wts:
                self.err(f, "metadata.name", f"WorkflowTemplate {name!r} is also in {self.wts[name]}")
            elif d.get("kind") == "WorkflowTemplate":
                self.wts[name] = f
        for f, d in self.docs.items():
            self.schema(f, d)
            self.declared[f], self.uses[f], self.refs[f] = {}, {}, []
            try:  # the rules below assume the schema's shapes; on a badly malformed resource they may give up
                self.resource(f, d, D(d.get("metadata")), D(d.get("spec")), d.get("kind"))
            except (TypeError, AttributeError, IndexError, KeyError) as e:
                self.err(f, "-", f"cross-reference checks stopped on a malformed resource ({type(e).__name__}: {e})")
        self.cross_params()
        if not self.docs and not self.problems:
            self.err(directory, "-", "no *.yaml resources")
        return len(self.docs)

    def schema(self, f, d):
        if d.get("apiVersion") != "argoproj.io/v1alpha1":
            self.err(f, "apiVersion", f"must be argoproj.io/v1alpha1, not {d.get('apiVersion')!r}")
        if d.get("kind") not in MODELS:
            return self.err(f, "kind", f"must be Workflow or WorkflowTemplate, not {d.get('kind')!r}")
        try:  # JSON mode: what the Kubernetes API server receives (default=str for YAML dates)
            MODELS[d["kind"]].model_validate_json(json.dumps(d, default=str), strict=True)
        except ValidationError as e:
            found = {}  # a union (IntOrString) reports once per member: merge them per field
            for x in e.errors():
                loc = ".".join(str(p) for p in x["loc"] if p not in ("str", "int", "root") and "[" not in str(p))
                got = "" if x["type"] in ("extra_forbidden", "missing") else f" (got {x['input']!r:.60})"
                msg = "unknown field" if x["type"] == "extra_forbidden" else x["msg"]
                found.setdefault(loc, []).append(msg + got)
            for loc, msgs in found.items():
                self.err(f, loc or "-", "; ".join(dict.fromkeys(msgs)))

    def resource(self, f, d, meta, spec, kind):
        if kind == "WorkflowTemplate" or "name" in meta or "generateName" not in meta:
            self.dns(f, "metadata.name", meta.get("name"), 63)
        if kind == "Workflow" and "generateName" in meta:
            self.dns(f, "metadata.generateName", meta["generateName"], 253, prefix=True)
        for k, v in D(meta.get("labels")).items():
            prefix, _, name = str(k).rpartition("/")
            if not (prefix == "" or self.dns(f, "", prefix, 253, report=False)) or not self.label(name):
                self.err(f, f"metadata.labels.{k}", "invalid label key")
            if isinstance(v, str) and v and not self.label(v):
                self.err(f, f"metadata.labels.{k}", f"invalid label value {v!r}")
        templates = L(spec.get("templates"))
        local = self.names(f, "spec.templates", templates, FIELD_NAME, "template")
        if kind == "Workflow" and not spec.get("entrypoint"):
            self.err(f, "spec.entrypoint", "required for a Workflow")
        for key in ("entrypoint", "onExit"):
            if spec.get(key) and spec[key] not in local:
                self.err(f, f"spec.{key}", f"no template named {spec[key]!r} in spec.templates")
        self.declared[f] = self.params(f, "spec.arguments.parameters", D(spec.get("arguments")).get("parameters"),
                                       need_value=kind == "Workflow", submit=True)
        for i, t in enumerate(templates):
            self.template(f, f"spec.templates.{i}", D(t), local)
        for path, s in strings(d):
            for m in EXPR.finditer(s):
                self.expression(f, path, m[1].strip(), templates)

    def dns(self, f, path, value, limit, report=True, prefix=False):
        masked = re.sub("-$", "a", value) if prefix and isinstance(value, str) else value  # as k8s does
        ok = isinstance(masked, str) and len(masked) <= limit and DNS_SUBDOMAIN.fullmatch(masked)
        if report and not ok:
            self.err(f, path, "required" if value is None else f"{value!r} is not a DNS-1123 subdomain "
                     f"(lowercase a-z, 0-9, '-', '.') of <= {limit} chars")
        return ok

    @staticmethod
    def label(s):
        return len(s) <= 63 and LABEL_PART.fullmatch(s)

    def names(self, f, path, items, regex, what):
        """Check each item's name and their uniqueness; return {name: item}."""
        seen = {}
        for i, item in enumerate(items):
            n = D(item).get("name")
            if not isinstance(n, str) or not regex.fullmatch(n) or (regex is FIELD_NAME and len(n) > 128):
                limit = ", <= 128 chars" if regex is FIELD_NAME else ""
                self.err(f, f"{path}.{i}.name", f"invalid {what} name {n!r} (must match {regex.pattern}{limit})")
            elif n in seen:
                self.err(f, f"{path}.{i}.name", f"duplicate {what} name {n!r}")
            seen.setdefault(n, item)
        return seen

    def params(self, f, path, items, need_value, submit=False):
        found = self.names(f, path, L(items), PARAM_NAME, "parameter")
        for i, p in enumerate(map(D, L(items))):
            value = self.given.get(p.get("name"), p.get("value")) if submit else p.get("value")
            if need_value and value is None and "valueFrom" not in p:
                hint = " (Argo rejects the Workflow unless given at submit: argo submit -p NAME=VALUE; -p here too)"
                self.err(f, f"{path}.{i}.value", "required" + (hint if submit else ""))
            if "enum" in p and not L(p["enum"]):
                self.err(f, f"{path}.{i}.enum", "must list at least one value")
            elif "enum" in p and value is not None and value not in p["enum"]:
                self.err(f, f"{path}.{i}.value", f"{value!r} is not in enum {p['enum']}")
        return found

    def template(self, f, p, t, local):
        kinds = [k for k in TEMPLATE_KINDS if k in t]
        if kinds not in (["container"], ["dag"]):
            self.err(f, p, f"must have exactly one of container, dag (has {', '.join(kinds) or 'none'})")
        self.params(f, f"{p}.inputs.parameters", D(t.get("inputs")).get("parameters"), need_value=False)
        for key, bad in (("activeDeadlineSeconds", "dag" in t), ("parallelism", "container" in t)):
            if key in t and bad:
                where = "only" if key == "activeDeadlineSeconds" else "not"
                self.err(f, f"{p}.{key}", f"{where} valid on leaf (container) templates")
        policy = D(t.get("retryStrategy")).get("retryPolicy")
        if policy is not None and policy not in RETRY_POLICIES:
            self.err(f, f"{p}.retryStrategy.retryPolicy", f"{policy!r} is not one of {', '.join(RETRY_POLICIES)}")
        if "dag" in t:
            self.dag(f, f"{p}.dag", L(D(t["dag"]).get("tasks")), local)

    def dag(self, f, p, tasks, local):
        if not tasks:
            self.err(f, f"{p}.tasks", "a DAG needs at least one task")
        by_name = self.names(f, f"{p}.tasks", tasks, FIELD_NAME, "task")
        uses_depends = any("depends" in D(t) or "dependencies" in D(t) for t in tasks)
        graph = {}
        for j, task in enumerate(map(D, tasks)):
            tp, name = f"{p}.tasks.{j}", task.get("name")
            if uses_depends and str(name)[:1].isdigit():
                self.err(f, f"{tp}.name", f"{name!r} begins with a digit, which Argo refuses in a DAG using depends")
            if "depends" in task and ("dependencies" in task or "continueOn" in task):
                self.err(f, f"{tp}.depends", "cannot be combined with dependencies or continueOn")
            if sum(k in task for k in LOOPS) > 1:
                self.err(f, tp, "only one of withItems, withParam, withSequence")
            graph[name] = self.depends(f, f"{tp}.depends", task, by_name)
            graph[name] += [d for d in L(task.get("dependencies")) if d in by_name and d != name]
            callee = self.callee(f, tp, task, local)
            if callee is not None:
                self.arguments(f, tp, task, callee)
        state = {}

        def visit(n, stack):  # depth-first; a task met again while still open closes a cycle
            state[n] = "open"
            for m in graph.get(n, []):
                if state.get(m) == "open":
                    self.err(f, f"{p}.tasks", "depends cycle: " + " -> ".join(stack[stack.index(m):] + [m]))
                elif m not in state:
                    visit(m, stack + [m])
            state[n] = "done"
        for n in graph:
            if n not in state:
                visit(n, [n])

    def depends(self, f, path, task, tasks):
        """Check a depends expression (names, results, &&, ||, !, parentheses); return the tasks it names."""
        expr, pos, depth, want_operand, found = task.get("depends"), 0, 0, True, []
        while isinstance(expr, str) and expr[pos:].strip():
            m = DEPENDS_TOKEN.match(expr, pos)
            tok = m and m[0].strip()
            depth += (tok == "(") - (tok == ")")
            if not m or depth < 0 or (tok in ("&&", "||", ")")) == want_operand:
                return self.err(f, path, f"malformed expression {expr!r} at {expr[pos:].strip()!r}") or []
            want_operand, pos, name, result = tok in ("&&", "||", "(", "!"), m.end(), m[1], m[2]
            if result is not None and result not in RESULTS:
                self.err(f, path, f"unknown result {name}.{result} (one of {', '.join(RESULTS)})")
            if name == task.get("name"):
                self.err(f, path, f"task {name!r} depends on itself")
            elif name is not None and name not in tasks:
                self.err(f, path, f"{name!r} is not a task of this DAG")
            elif name is not None:
                found.append(name)
                if result in ("AnySucceeded", "AllFailed") and not any(k in D(tasks[name]) for k in LOOPS):
                    self.err(f, path, f"{name}.{result} needs task {name!r} to loop (withItems/withParam)")
        if isinstance(expr, str) and (want_operand or depth):
            self.err(f, path, f"malformed expression {expr!r}: incomplete")
        return found

    def callee(self, f, tp, task, local):
        """Resolve a task's template or templateRef; return the called template, or None."""
        if ("template" in task) == ("templateRef" in task):
            return self.err(f, tp, "needs exactly one of template, templateRef")
        if "template" in task:
            if task["template"] in local:
                return D(local[task["template"]])
            return self.err(f, f"{tp}.template", f"no template named {task['template']!r} in this resource")
        ref = D(task["templateRef"])
        wt = self.wts.get(ref.get("name"))
        if wt is None:
            return self.err(f, f"{tp}.templateRef.name", f"no WorkflowTemplate named {ref.get('name')!r} in DIR")
        self.refs[f].append((f"{tp}.templateRef", wt))
        templates = map(D, L(D(self.docs[wt].get("spec")).get("templates")))
        found = [t for t in templates if t.get("name") == ref.get("template")]
        if not found:
            self.err(f, f"{tp}.templateRef.template", f"{ref['name']!r} has no template {ref.get('template')!r}")
        return found[0] if found else None

    def arguments(self, f, tp, task, callee):
        path, name = f"{tp}.arguments.parameters", callee.get("name")
        inputs = {D(q).get("name"): D(q) for q in L(D(callee.get("inputs")).get("parameters"))}
        passed = self.params(f, path, D(task.get("arguments")).get("parameters"), need_value=True)
        for n, q in inputs.items():
            if n not in passed and "value" not in q and "default" not in q:
                self.err(f, path, f"missing input parameter {n!r} of template {name!r}")
        for k, n in enumerate(passed):
            if n not in inputs:
                self.err(f, f"{path}.{k}.name", f"template {name!r} has no input parameter {n!r}")

    def expression(self, f, path, tag, templates):
        m = IN_TASK.match(path)
        tmpl = D(templates[int(m[1])]) if m else {}
        task = D(L(D(tmpl.get("dag")).get("tasks"))[int(m[2])]) if m and m[2] else {}
        scope, _, name = tag.partition(".parameters.")
        if scope == "workflow" and name:
            self.uses[f].setdefault(name, path)
            if name not in self.declared[f]:
                self.err(f, path, f"{{{{{tag}}}}}: {name!r} is not declared in spec.arguments.parameters")
        elif scope == "inputs" and name:
            if name not in [D(q).get("name") for q in L(D(tmpl.get("inputs")).get("parameters"))]:
                self.err(f, path, f"{{{{{tag}}}}}: not an input parameter of the enclosing template")
        elif tag == "item" or tag.startswith("item."):
            items = L(task.get("withItems"))
            if "withParam" not in task and not items:
                self.err(f, path, f"{{{{{tag}}}}} outside a DAG task with withItems or withParam")
            elif items and tag != "item" and not any(tag[5:] in D(it) for it in items):
                self.err(f, path, f"{{{{{tag}}}}}: no withItems entry has key {tag[5:]!r}")
        elif tag == "workflow.name":
            pass
        elif tag.startswith("tasks.") and ".outputs.parameters." in tag:
            # {{tasks.T.outputs.parameters.P}}: T is a task of the same DAG whose template declares output P.
            t_name, _, p_name = tag[len("tasks."):].partition(".outputs.parameters.")
            tasks = {D(t).get("name"): D(t) for t in L(D(tmpl.get("dag")).get("tasks"))}
            if t_name not in tasks:
                self.err(f, path, f"{{{{{tag}}}}}: no task {t_name!r} in this DAG")
            else:
                callee = next((D(t) for t in templates if D(t).get("name") == tasks[t_name].get("template")), {})
                outputs = [D(q).get("name") for q in L(D(callee.get("outputs")).get("parameters"))]
                if p_name not in outputs:
                    self.err(f, path, f"{{{{{tag}}}}}: template {callee.get('name')!r} has no output {p_name!r}")
                elif "depends" in task and t_name not in task.get("depends", ""):
                    self.err(f, path, f"{{{{{tag}}}}}: the task does not depend on {t_name!r}")
        else:
            self.err(f, path, f"unknown expression {{{{{tag}}}}} (expected workflow.parameters.X, "
                              "inputs.parameters.X, tasks.T.outputs.parameters.X, workflow.name or item)")

    def cross_params(self):
        """A resource reaching a WorkflowTemplate by templateRef, directly or through other
        WorkflowTemplates, declares every {{workflow.parameters.X}} that template uses."""
        for f, refs in self.refs.items():
            for path, wt in refs:
                seen, todo = {wt}, [wt]
                while todo:
                    g = todo.pop()
                    for name, where in self.uses[g].items():
                        if name not in self.declared[f]:
                            self.err(f, path, f"{{{{workflow.parameters.{name}}}}} used by {g} ({where}) is not "
                                              "declared in spec.arguments.parameters here")
                    todo += sorted({w for _, w in self.refs[g]} - seen)
                    seen |= set(todo)


SELF_TEST = """
workflow.yaml:
  apiVersion: argoproj.io/v1alpha1
  kind: Workflow
  metadata: {generateName: cluster-build-, labels: {precheck.dev/pipeline: cluster-build}}
  spec:
    entrypoint: main
    onExit: exit
    parallelism: 4
    serviceAccountName: precheck
    arguments: &args
      parameters:
        - {name: CLUSTER, value: prod-eu-1, description: target}
        - {name: METRICS_SERVER, value: none, enum: [none, v0.7.2]}
        - {name: ZONES, value: '["a","b"]'}
        - {name: REGION}
    templates:
      - name: main
        dag:
          failFast: false
          tasks:
            - {name: network, templateRef: {name: cluster-build-network, template: main}}
            - name: addons
              depends: network && (!network.Failed || network.Succeeded)
              when: &when "'{{workflow.parameters.METRICS_SERVER}}' != 'none'"
              templateRef: {name: cluster-build-addons, template: main}
      - &exit {name: exit, dag: {tasks: [{name: finally, templateRef: {name: cluster-build-finally, template: main}}]}}
cluster-build-network.yaml:
  apiVersion: argoproj.io/v1alpha1
  kind: WorkflowTemplate
  metadata: {name: cluster-build-network}
  spec: {entrypoint: main, arguments: *args, templates: [{name: main, container: {image: "example/precheck:1"}}]}
cluster-build-finally.yaml:
  apiVersion: argoproj.io/v1alpha1
  kind: WorkflowTemplate
  metadata: {name: cluster-build-finally}
  spec: {arguments: *args, templates: [{name: main, container: {image: x, args: ["{{workflow.parameters.ZONES}}"]}}]}
cluster-build-addons.yaml:
  apiVersion: argoproj.io/v1alpha1
  kind: WorkflowTemplate
  metadata: {name: cluster-build-addons, labels: {precheck.dev/pipeline: cluster-build, precheck.dev/stage: addons}}
  spec:
    entrypoint: main
    onExit: exit
    arguments: *args
    templates:
      - name: main
        parallelism: 2
        dag:
          failFast: false
          tasks:
            - {name: platform, template: platform}
            - {name: metrics-server, depends: platform, when: *when, template: platform}
            - name: zones
              template: zones
              withParam: "{{workflow.parameters.ZONES}}"
              arguments: {parameters: [{name: item, value: "{{item}}"}]}
            - name: each
              template: zones
              withItems: [a, b]
              arguments: {parameters: [{name: item, value: "{{item}}"}]}
      - name: platform
        activeDeadlineSeconds: 600
        retryStrategy: {limit: 2, retryPolicy: Always, backoff: {duration: 5s, factor: 2, cap: 5m, maxDuration: 10m}}
        container:
          image: example/precheck:1
          command: [precheck]
          args: [pipeline, step, p.yaml, addons/platform, -p, "CLUSTER={{workflow.parameters.CLUSTER}}"]
          workingDir: /precheck
          env: [{name: PRECHECK_STATE_DIR, value: /tmp/precheck}]
      - name: zones
        inputs: {parameters: [{name: item}]}
        container: {image: x, args: [--item, "{{inputs.parameters.item}}"]}
      - *exit
"""
W, A, T = "workflow.yaml", "cluster-build-addons.yaml", "spec.templates.0.dag.tasks"
# (file, dotted path to set, value or None to delete, what the first problem line must start with)
MUTATIONS = [
    (A, "spec.templates.0.bogus", 1, f"{A}: spec.templates.0.bogus: unknown field"),
    (W, "spec.activeDeadlineSecond", 60, f"{W}: spec.activeDeadlineSecond: unknown field"),
    (W, "spec.service_account_name", "x", f"{W}: spec.service_account_name: unknown field"),
    (A, "spec.templates.1.container.working_dir", "/x", f"{A}: spec.templates.1.container.working_dir: unknown field"),
    (W, "spec.arguments.parameters.0.value", 3, f"{W}: spec.arguments.parameters.0.value: Input should be a valid str"),
    (W, f"{T}.1.templateRef.name", "nope", f"{W}: {T}.1.templateRef.name: no WorkflowTemplate named 'nope'"),
    (A, f"{T}.1.depends", "platform && nope", f"{A}: {T}.1.depends: 'nope' is not a task"),
    (A, f"{T}.0.depends", "metrics-server", f"{A}: {T}: depends cycle"),
    (A, "spec.templates.1.container.args.5", "{{workflow.parameters.NOPE}}",
     f"{A}: spec.templates.1.container.args.5: {{"),
    (A, f"{T}.3.name", "9each", f"{A}: {T}.3.name: '9each' begins with a digit"),
    (A, f"{T}.2.withParam", None, f"{A}: {T}.2.arguments.parameters.0.value: {{{{item}}}} outside"),
    (W, "spec.arguments.parameters.2", None, f"{W}: {T}.1.templateRef: {{{{workflow.parameters.ZONES}}}}"),
    (A, f"{T}.3.arguments", None, f"{A}: {T}.3.arguments.parameters: missing input parameter 'item'"),
    (A, "spec.templates.2.name", "platform", f"{A}: spec.templates.2.name: duplicate template name"),
    (A, "spec.templates.1.script", {"image": "x", "source": "y"}, f"{A}: spec.templates.1: must have exactly one"),
    (A, f"{T}.1.depends", "platform &&", f"{A}: {T}.1.depends: malformed"),
]


def check(docs, given):
    with tempfile.TemporaryDirectory() as tmp:
        for name, d in docs.items():
            Path(tmp, name).write_text(yaml.safe_dump(d, sort_keys=False))
        checker = Checker(given)
        checker.run(tmp)
        return checker.problems


def self_test():
    base = json.loads(json.dumps(yaml.safe_load(SELF_TEST)))  # deep copy without YAML anchors' sharing
    problems = check(base, {"REGION": "eu"})
    if problems:
        sys.exit("self-test: FAILED: the valid example was rejected:\n" + "\n".join(problems))
    expected = f"{W}: spec.arguments.parameters.3.value: required"
    if not check(base, {})[0].startswith(expected):
        sys.exit(f"self-test: FAILED: a Workflow parameter without a value was not reported as {expected!r}")
    for f, path, value, expected in MUTATIONS:
        docs = json.loads(json.dumps(base))
        *parents, last = [int(k) if k.isdigit() else k for k in path.split(".")]
        node = docs[f]
        for k in parents:
            node = node[k]
        node.pop(last) if value is None else node.__setitem__(last, value)
        problems = check(docs, {"REGION": "eu"})
        if not problems[:1] or not problems[0].startswith(expected):
            sys.exit(f"self-test: FAILED: {path}={value!r}: expected {expected!r} first, got {problems}")
    print(f"self-test: ok ({len(MUTATIONS) + 1} mutations caught)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", nargs="?", help="directory of exported *.yaml resources")
    ap.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                    help="a Workflow parameter given at submit time, as with `argo submit -p`")
    ap.add_argument("--self-test", action="store_true", help="check the validator against built-in mutations")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    if not args.dir or not Path(args.dir).is_dir():
        ap.error("DIR, an existing directory, is required")
    checker = Checker(dict(p.partition("=")[::2] for p in args.param))
    n = checker.run(args.dir)
    print("\n".join(checker.problems) or f"argo-validate: {n} resources ok")
    sys.exit(1 if checker.problems else 0)


if __name__ == "__main__":
    main()
