//! `apply` steps: Kubernetes manifests through server-side apply (as `kubectl apply --server-side
//! --force-conflicts` with the field manager `precheck`), in file and document order. Each object's kind is
//! resolved with discovery of its own group and version only (an unavailable aggregated API elsewhere does
//! not matter); a CustomResourceDefinition is waited for until it is `Established`, and its kind until
//! discovery serves it, so its custom resources can follow in the same step. Applying what is already
//! there changes nothing. Manifests are sent as written: parameters are not substituted inside them.
//!
//! Every call is retried as checks' calls are ([`precheck::cluster::BoundedCalls`]): a busy or briefly
//! broken API server (429, 5xx, a reset, a body cut short) does not fail the step; server-side apply of the
//! same object twice is the same as once.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use std::collections::HashMap;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::discovery::{ApiCapabilities, Scope, pinned_kind};
use precheck::cluster::{BoundedCalls, ClusterError};
use precheck::outcome::Classified;

use crate::executor::AttemptError;

/// How long a CRD may take to become `Established`, and its kind to be served.
const ESTABLISHED_TIMEOUT: Duration = Duration::from_secs(60);

/// Resolves kinds with discovery, once per kind.
struct Kinds {
    client: kube::Client,
    calls: BoundedCalls,
    known: HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)>,
}

impl Kinds {
    async fn resolve(
        &mut self,
        gvk: &GroupVersionKind,
    ) -> Result<Option<(ApiResource, ApiCapabilities)>, AttemptError> {
        if let Some(found) = self.known.get(gvk) {
            return Ok(Some(found.clone()));
        }
        let action = format!("discovery of {}/{} {}", gvk.group, gvk.version, gvk.kind);
        let found = self
            .calls
            .run(&action, || async {
                match pinned_kind(&self.client, gvk).await {
                    Ok(found) => Ok(Some(found)),
                    // The group, its version or the kind is not served.
                    Err(kube::Error::Api(e)) if e.code == 404 => Ok(None),
                    Err(kube::Error::Discovery(_)) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .await
            .map_err(said)?;
        if let Some(found) = &found {
            self.known.insert(gvk.clone(), found.clone());
        }
        Ok(found)
    }

    /// Waits until discovery serves `gvk` (a CRD just established).
    async fn wait_for(&mut self, gvk: &GroupVersionKind) -> Result<(), AttemptError> {
        let started = Instant::now();
        while self.resolve(gvk).await?.is_none() {
            if started.elapsed() > ESTABLISHED_TIMEOUT {
                return Err(AttemptError::Failed(format!(
                    "kind {} of {}/{} not served after {ESTABLISHED_TIMEOUT:?}",
                    gvk.kind, gvk.group, gvk.version
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Ok(())
    }
}

/// A failed call in the words of a step's log: what was being done, then why. The cluster refusing the
/// input (an unknown resource type) is a failure; a cluster that could not be asked makes the step errored.
fn said(error: ClusterError) -> AttemptError {
    let fault = error.fault();
    let message = match error {
        ClusterError::Api { action, message } => format!("{action}: {message}"),
        other => other.to_string(),
    };
    AttemptError::of(fault, message)
}

/// The objects of a manifest file: every YAML document, `kind: List` items included, empty ones skipped.
fn objects(path: &PathBuf) -> Result<Vec<(usize, serde_json::Value)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(&text).map_err(|e| format!("{}: not YAML: {e}", path.display()))?;
    let mut out = Vec::new();
    for (n, doc) in docs.into_iter().enumerate() {
        match doc {
            serde_json::Value::Null => {}
            serde_json::Value::Object(ref map)
                if map.get("kind").and_then(|k| k.as_str()).is_some_and(|k| k.ends_with("List"))
                    && map.contains_key("items") =>
            {
                if let Some(items) = map.get("items").and_then(|i| i.as_array()) {
                    out.extend(items.iter().cloned().map(|i| (n + 1, i)));
                }
            }
            doc => out.push((n + 1, doc)),
        }
    }
    Ok(out)
}

/// Applies every object of `files`; `log` receives one line per object.
pub async fn apply(
    options: &precheck::cluster::ConnectOptions,
    files: &[PathBuf],
    log: &mut (dyn FnMut(&str) + Send),
) -> Result<(), AttemptError> {
    let (client, default_namespace) =
        precheck::cluster::client(options).await.map_err(|e| AttemptError::of(e.fault(), e.to_string()))?;
    // An apply may wait on admission webhooks (up to 30 s each): an attempt gets the API server's own
    // 60 s request timeout, and the call two of them and their backoff.
    let calls = BoundedCalls::with_bounds(Duration::from_secs(60), Duration::from_secs(150));
    let mut kinds = Kinds { client: client.clone(), calls: calls.clone(), known: HashMap::new() };
    let params = PatchParams::apply("precheck").force();
    for file in files {
        for (doc, value) in objects(file)? {
            let place = format!("{} (document {doc})", file.display());
            let object: DynamicObject =
                serde_json::from_value(value).map_err(|e| format!("{place}: not a Kubernetes object: {e}"))?;
            let Some(types) = &object.types else {
                return Err(format!("{place}: the object has no apiVersion and kind").into());
            };
            let Some(name) = object.metadata.name.clone() else {
                return Err(format!("{place}: {} has no metadata.name", types.kind).into());
            };
            let (group, version) = match types.api_version.split_once('/') {
                Some((g, v)) => (g.to_owned(), v.to_owned()),
                None => (String::new(), types.api_version.clone()),
            };
            let gvk = GroupVersionKind::gvk(&group, &version, &types.kind);
            let Some((resource, capabilities)) = kinds.resolve(&gvk).await? else {
                return Err(format!(
                    "{place}: the cluster has no kind {} in {} (is its CRD installed?)",
                    types.kind, types.api_version
                )
                .into());
            };
            let (api, shown): (Api<DynamicObject>, String) = match capabilities.scope {
                Scope::Namespaced => {
                    let namespace = object.metadata.namespace.clone().unwrap_or_else(|| default_namespace.clone());
                    (
                        Api::namespaced_with(client.clone(), &namespace, &resource),
                        format!("{}/{name} in {namespace}", types.kind),
                    )
                }
                Scope::Cluster => (Api::all_with(client.clone(), &resource), format!("{}/{name}", types.kind)),
            };
            let patch = Patch::Apply(&object);
            let applied = calls
                .run(&format!("{place}: applying {shown}"), || api.patch(&name, &params, &patch))
                .await
                .map_err(said)?;
            log(&format!(
                "applied {shown} (resourceVersion {})",
                applied.metadata.resource_version.unwrap_or_default()
            ));
            if types.kind == "CustomResourceDefinition" && group == "apiextensions.k8s.io" {
                let served = established(&calls, &api, &name).await.map_err(|e| e.at(&place))?;
                for gvk in served {
                    kinds.wait_for(&gvk).await.map_err(|e| e.at(&place))?;
                }
                log(&format!("{shown} is established"));
            }
        }
    }
    Ok(())
}

/// Waits until a CRD's `Established` condition is `True`; returns the kinds it serves.
async fn established(
    calls: &BoundedCalls,
    api: &Api<DynamicObject>,
    name: &str,
) -> Result<Vec<GroupVersionKind>, AttemptError> {
    let started = Instant::now();
    loop {
        let crd =
            calls.run(&format!("reading CustomResourceDefinition/{name}"), || api.get(name)).await.map_err(said)?;
        let conditions = crd.data.pointer("/status/conditions").and_then(|c| c.as_array()).cloned().unwrap_or_default();
        if conditions.iter().any(|c| c["type"] == "Established" && c["status"] == "True") {
            let group = crd.data.pointer("/spec/group").and_then(|g| g.as_str()).unwrap_or_default();
            let kind = crd.data.pointer("/spec/names/kind").and_then(|k| k.as_str()).unwrap_or_default();
            let versions = crd.data.pointer("/spec/versions").and_then(|v| v.as_array()).cloned().unwrap_or_default();
            return Ok(versions
                .iter()
                .filter(|v| v["served"] == true)
                .filter_map(|v| v["name"].as_str())
                .map(|version| GroupVersionKind::gvk(group, version, kind))
                .collect());
        }
        if started.elapsed() > ESTABLISHED_TIMEOUT {
            return Err(AttemptError::Failed(format!(
                "CustomResourceDefinition/{name} not Established after {ESTABLISHED_TIMEOUT:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
