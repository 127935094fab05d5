//! A cluster read from `kubectl get … -o yaml` output, so checks can be written and run offline.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::labels::LabelSelector;
use super::resources::{ResourceKind, ResourceTable};
use super::{ClusterError, Namespaces};

/// Objects loaded from YAML (a `List`, or several documents).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    objects: Vec<Value>,
    resources: ResourceTable,
}

impl Snapshot {
    /// Parses YAML text: `kind: List` documents are flattened, CRDs teach their names.
    ///
    /// ```
    /// use precheck::cluster::Snapshot;
    ///
    /// let snapshot = Snapshot::from_yaml("apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x}\n").unwrap();
    /// assert_eq!(snapshot.len(), 1);
    /// ```
    pub fn from_yaml(text: &str) -> Result<Self, ClusterError> {
        let mut snapshot = Self { objects: Vec::new(), resources: ResourceTable::builtin() };
        snapshot.add_yaml(text, "<yaml>")?;
        Ok(snapshot)
    }

    /// Reads and merges several files.
    pub fn from_files<P: AsRef<Path>>(paths: &[P]) -> Result<Self, ClusterError> {
        let mut snapshot = Self { objects: Vec::new(), resources: ResourceTable::builtin() };
        for path in paths {
            let path = path.as_ref();
            let text = std::fs::read_to_string(path)
                .map_err(|e| ClusterError::Snapshot(format!("cannot read snapshot {}: {e}", path.display())))?;
            snapshot.add_yaml(&text, &path.display().to_string())?;
        }
        Ok(snapshot)
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// True when the snapshot holds no object.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The resource kinds this snapshot can answer for.
    pub fn resources(&self) -> &ResourceTable {
        &self.resources
    }

    fn add_yaml(&mut self, text: &str, origin: &str) -> Result<(), ClusterError> {
        let docs: Vec<Value> = serde_saphyr::from_multiple(text)
            .map_err(|e| ClusterError::Snapshot(format!("{origin} is not valid YAML: {e}")))?;
        for doc in docs {
            self.add_object(doc, origin)?;
        }
        Ok(())
    }

    fn add_object(&mut self, doc: Value, origin: &str) -> Result<(), ClusterError> {
        match doc {
            Value::Null => Ok(()),
            Value::Object(ref map) if map.get("kind").and_then(Value::as_str).is_some_and(|k| k.ends_with("List")) => {
                let items = map.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
                items.into_iter().try_for_each(|item| self.add_object(item, origin))
            }
            Value::Object(ref map) => {
                let kind = map.get("kind").and_then(Value::as_str);
                let api_version = map.get("apiVersion").and_then(Value::as_str);
                let (Some(kind), Some(api_version)) = (kind, api_version) else {
                    return Err(ClusterError::Snapshot(format!(
                        "{origin}: every object needs `apiVersion` and `kind` (as `kubectl get -o yaml` prints them)"
                    )));
                };
                let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
                if kind == "CustomResourceDefinition" {
                    self.learn_crd(&doc);
                }
                if self.resources.kinds().iter().all(|k| !(k.kind == kind && k.group == group)) {
                    // An object of a kind nobody described: name it like kubectl would name a simple CRD.
                    let singular = kind.to_ascii_lowercase();
                    self.resources.add(ResourceKind {
                        group: group.into(),
                        version: version.into(),
                        kind: kind.into(),
                        plural: format!("{singular}s"),
                        singular,
                        short_names: Vec::new(),
                        namespaced: map.get("metadata").and_then(|m| m.get("namespace")).is_some(),
                    });
                }
                self.objects.push(doc);
                Ok(())
            }
            _ => Err(ClusterError::Snapshot(format!("{origin}: expected Kubernetes objects (YAML mappings)"))),
        }
    }

    fn learn_crd(&mut self, crd: &Value) {
        let spec = &crd["spec"];
        let names = &spec["names"];
        let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let version = spec["versions"]
            .as_array()
            .and_then(|vs| vs.iter().find(|v| v["storage"].as_bool() == Some(true)).or(vs.first()))
            .map(|v| s(&v["name"]))
            .unwrap_or_default();
        self.resources.add(ResourceKind {
            group: s(&spec["group"]),
            version,
            kind: s(&names["kind"]),
            plural: s(&names["plural"]),
            singular: names["singular"].as_str().map_or_else(|| s(&names["kind"]).to_ascii_lowercase(), str::to_owned),
            short_names: names["shortNames"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
            namespaced: spec["scope"].as_str() != Some("Cluster"),
        });
    }

    /// The objects of `kind` in `namespaces` whose labels match `labels`.
    pub(crate) fn list(
        &self,
        kind: &ResourceKind,
        namespaces: &Namespaces,
        labels: Option<&LabelSelector>,
    ) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|o| {
                let api_version = o["apiVersion"].as_str().unwrap_or_default();
                let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
                o["kind"].as_str() == Some(kind.kind.as_str()) && group == kind.group
            })
            .filter(|o| match namespaces {
                Namespaces::One(ns) if kind.namespaced => o["metadata"]["namespace"].as_str() == Some(ns.as_str()),
                _ => true,
            })
            .filter(|o| {
                labels.is_none_or(|selector| {
                    let map: BTreeMap<String, String> = o["metadata"]["labels"]
                        .as_object()
                        .map(|m| {
                            m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect()
                        })
                        .unwrap_or_default();
                    selector.matches(&map)
                })
            })
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = "\
apiVersion: v1
kind: List
items:
  - {apiVersion: v1, kind: Pod, metadata: {name: a, namespace: web, labels: {app: nginx}}}
  - {apiVersion: v1, kind: Pod, metadata: {name: b, namespace: api, labels: {app: api}}}
  - {apiVersion: v1, kind: Namespace, metadata: {name: web}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions: [{name: v1beta1, storage: false}, {name: v1, storage: true}]
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: blue, namespace: web}
---
apiVersion: acme.io/v2
kind: Gadget
metadata: {name: g, namespace: web}
";

    fn names(objects: &[Value]) -> Vec<&str> {
        objects.iter().map(|o| o["metadata"]["name"].as_str().unwrap()).collect()
    }

    #[test]
    fn lists_and_documents_are_flattened() {
        let s = Snapshot::from_yaml(LIST).unwrap();
        assert_eq!(s.len(), 6);
        let pods = s.resources().resolve("po").unwrap();
        assert_eq!(names(&s.list(pods, &Namespaces::All, None)), ["a", "b"]);
        assert_eq!(names(&s.list(pods, &Namespaces::One("web".into()), None)), ["a"]);
        let selector = LabelSelector::parse("app=api").unwrap();
        assert_eq!(names(&s.list(pods, &Namespaces::All, Some(&selector))), ["b"]);
        // Cluster-scoped kinds ignore the namespace.
        let ns = s.resources().resolve("ns").unwrap();
        assert_eq!(names(&s.list(ns, &Namespaces::One("api".into()), None)), ["web"]);
    }

    #[test]
    fn crds_teach_their_names_and_unknown_kinds_get_simple_ones() {
        let s = Snapshot::from_yaml(LIST).unwrap();
        for word in ["wd", "widget", "widgets", "widgets.example.com", "Widget"] {
            let kind = s.resources().resolve(word).unwrap();
            assert_eq!((kind.plural.as_str(), kind.version.as_str()), ("widgets", "v1"), "{word}");
            assert_eq!(names(&s.list(kind, &Namespaces::One("web".into()), None)), ["blue"]);
        }
        let gadget = s.resources().resolve("gadgets").unwrap();
        assert_eq!(gadget.api_version(), "acme.io/v2");
        assert!(s.resources().resolve("gadget").is_ok());
    }

    #[test]
    fn bad_input_says_what_is_wrong() {
        let e = Snapshot::from_yaml("kind: Pod\nmetadata: {name: x}\n").unwrap_err();
        assert!(e.to_string().contains("needs `apiVersion` and `kind`"), "{e}");
        let e = Snapshot::from_yaml("- a\n- b\n").unwrap_err();
        assert!(e.to_string().contains("expected Kubernetes objects"), "{e}");
        let e = Snapshot::from_yaml("a: [").unwrap_err();
        assert!(e.to_string().contains("not valid YAML"), "{e}");
        assert!(Snapshot::from_yaml("").unwrap().is_empty());
    }
}
