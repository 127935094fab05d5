//! Resolving resource words (`po`, `pods`, `Pod`, `deployments.apps`, `widgets.example.com`) like kubectl.

/// One kind of object the cluster serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceKind {
    /// API group, empty for the core group.
    pub group: String,
    /// Version served (the preferred one).
    pub version: String,
    /// `Kind`, such as `Deployment`.
    pub kind: String,
    /// Plural resource name, such as `deployments`.
    pub plural: String,
    /// Singular name, such as `deployment`.
    pub singular: String,
    /// Short names, such as `deploy`.
    pub short_names: Vec<String>,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
}

impl ResourceKind {
    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        [self.plural.as_str(), self.singular.as_str()]
            .into_iter()
            .chain(self.short_names.iter().map(String::as_str))
            .filter(|n| !n.is_empty())
    }

    fn is_called(&self, word: &str) -> bool {
        self.names().any(|n| n == word) || self.kind.eq_ignore_ascii_case(word)
    }
}

/// A resource word that names nothing the cluster serves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown resource type '{word}'{}", .suggestion.as_ref().map(|s| format!(": did you mean '{s}'?")).unwrap_or_default())]
pub struct UnknownResource {
    /// The word as written.
    pub word: String,
    /// The nearest name the cluster serves, when one is close.
    pub suggestion: Option<String>,
}

/// The resource kinds a source knows, in kubectl's order of preference (core group first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceTable {
    kinds: Vec<ResourceKind>,
}

impl ResourceTable {
    /// A table of `kinds`, the preferred first.
    pub fn new(kinds: Vec<ResourceKind>) -> Self {
        Self { kinds }
    }

    /// The kinds, in order of preference.
    pub fn kinds(&self) -> &[ResourceKind] {
        &self.kinds
    }

    /// Adds a kind unless one with the same group and plural is known.
    pub fn add(&mut self, kind: ResourceKind) {
        if !self.kinds.iter().any(|k| k.group == kind.group && k.plural == kind.plural) {
            self.kinds.push(kind);
        }
    }

    /// Resolves a word as kubectl does: plural, singular, short name or kind, optionally qualified as
    /// `name.group` or `name.version.group`.
    ///
    /// ```
    /// use precheck::cluster::ResourceTable;
    ///
    /// let table = ResourceTable::builtin();
    /// assert_eq!(table.resolve("po").unwrap().plural, "pods");
    /// assert_eq!(table.resolve("deployments.apps").unwrap().kind, "Deployment");
    /// assert_eq!(table.resolve("deploymnets").unwrap_err().suggestion.as_deref(), Some("deployments"));
    /// ```
    pub fn resolve(&self, word: &str) -> Result<&ResourceKind, UnknownResource> {
        let word = word.to_ascii_lowercase();
        if let Some(kind) = self.kinds.iter().find(|k| k.is_called(&word)) {
            return Ok(kind);
        }
        if let Some((name, qualifier)) = word.split_once('.') {
            let found = self.kinds.iter().find(|k| {
                k.is_called(name)
                    && (k.group == qualifier
                        || format!("{}.{}", k.version, k.group) == qualifier
                        || (k.group.is_empty() && k.version == qualifier))
            });
            if let Some(kind) = found {
                return Ok(kind);
            }
        }
        let names = self.kinds.iter().flat_map(ResourceKind::names);
        let suggestion = precheck_lang::nearest(&word, names).map(str::to_owned);
        Err(UnknownResource { word, suggestion })
    }

    /// The kinds every cluster serves, for sources without discovery (snapshots).
    pub fn builtin() -> Self {
        let k = |group: &str, version: &str, kind: &str, plural: &str, short: &[&str], namespaced: bool| ResourceKind {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: plural.into(),
            singular: kind.to_ascii_lowercase(),
            short_names: short.iter().map(|s| (*s).to_owned()).collect(),
            namespaced,
        };
        Self::new(vec![
            k("", "v1", "Pod", "pods", &["po"], true),
            k("", "v1", "Service", "services", &["svc"], true),
            k("", "v1", "ConfigMap", "configmaps", &["cm"], true),
            k("", "v1", "Secret", "secrets", &[], true),
            k("", "v1", "Namespace", "namespaces", &["ns"], false),
            k("", "v1", "Node", "nodes", &["no"], false),
            k("", "v1", "ServiceAccount", "serviceaccounts", &["sa"], true),
            k("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", &["pvc"], true),
            k("", "v1", "PersistentVolume", "persistentvolumes", &["pv"], false),
            k("", "v1", "Endpoints", "endpoints", &["ep"], true),
            k("", "v1", "Event", "events", &["ev"], true),
            k("apps", "v1", "Deployment", "deployments", &["deploy"], true),
            k("apps", "v1", "ReplicaSet", "replicasets", &["rs"], true),
            k("apps", "v1", "StatefulSet", "statefulsets", &["sts"], true),
            k("apps", "v1", "DaemonSet", "daemonsets", &["ds"], true),
            k("batch", "v1", "Job", "jobs", &[], true),
            k("batch", "v1", "CronJob", "cronjobs", &["cj"], true),
            k("networking.k8s.io", "v1", "Ingress", "ingresses", &["ing"], true),
            k("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", &["netpol"], true),
            k("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", &["hpa"], true),
            k("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", &["pdb"], true),
            k("storage.k8s.io", "v1", "StorageClass", "storageclasses", &["sc"], false),
            k("rbac.authorization.k8s.io", "v1", "Role", "roles", &[], true),
            k("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", &[], true),
            k("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", &[], false),
            k("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", &[], false),
            k(
                "apiextensions.k8s.io",
                "v1",
                "CustomResourceDefinition",
                "customresourcedefinitions",
                &["crd", "crds"],
                false,
            ),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_every_kind_of_name() {
        let t = ResourceTable::builtin();
        for word in ["po", "pod", "pods", "Pod", "PODS", "pods.v1", "pod.v1"] {
            assert_eq!(t.resolve(word).unwrap().plural, "pods", "{word}");
        }
        for word in ["deploy", "deployment", "deployments.apps", "deployments.v1.apps", "deploy.apps"] {
            assert_eq!(t.resolve(word).unwrap().plural, "deployments", "{word}");
        }
        assert_eq!(t.resolve("svc").unwrap().api_version(), "v1");
        assert_eq!(t.resolve("deploy").unwrap().api_version(), "apps/v1");
        assert!(t.resolve("deployments.batch").is_err());
    }

    #[test]
    fn unknown_words_suggest_the_nearest() {
        let t = ResourceTable::builtin();
        let e = t.resolve("podz").unwrap_err();
        assert_eq!(e.to_string(), "unknown resource type 'podz': did you mean 'pods'?");
        assert_eq!(t.resolve("zzzzzzzz").unwrap_err().suggestion, None);
    }
}
