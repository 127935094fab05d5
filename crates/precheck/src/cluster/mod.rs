//! Where objects come from: a live cluster (through kube-rs, behind the `kube` feature) or a snapshot of
//! `kubectl get -o yaml` output; and waiting for a `try` sentence to hold.

mod labels;
#[cfg(feature = "kube")]
mod live;
mod resources;
mod snapshot;

use precheck_lang::{ClusterAssertion, Retry, Scope, Sentence, SentenceError, parse_sentence};
use serde_json::Value;

use crate::evaluate::{Verdict, evaluate};
use crate::outcome::{Classified, Fault};

pub use labels::{LabelSelector, LabelSelectorError};
#[cfg(feature = "kube")]
pub use live::{BoundedCalls, ConnectOptions, LiveCluster, Selection, client};
pub use resources::{ResourceKind, ResourceTable, UnknownResource};
pub use snapshot::Snapshot;

use std::sync::Arc;

/// Which namespaces a query looks in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Namespaces {
    /// One namespace.
    One(String),
    /// Every namespace (`--all-namespaces`).
    All,
}

/// Why the cluster could not answer. Its [`Classified::fault`] tells the input's errors (an unknown
/// resource type, a bad selector, a snapshot file) from infrastructure problems, both reported apart from
/// failed assertions.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// No usable kubeconfig or context.
    #[error("{0}")]
    Config(String),
    /// A snapshot file could not be read, or does not hold Kubernetes objects.
    #[error("{0}")]
    Snapshot(String),
    /// The sentence is about AWS, not a Kubernetes cluster.
    #[error("this sentence is not about a Kubernetes cluster")]
    NotAboutCluster,
    /// The API server could not be reached or did not answer as expected.
    #[error("could not ask the cluster ({action}): {message}")]
    Api {
        /// What was being done, such as `list pods in default`.
        action: String,
        /// What went wrong.
        message: String,
    },
    /// The sentence names a resource type the cluster does not serve.
    #[error(transparent)]
    UnknownResource(#[from] UnknownResource),
    /// The label selector of a sentence is not valid.
    #[error(transparent)]
    LabelSelector(#[from] LabelSelectorError),
}

/// The input is at fault for an unknown resource type, a bad selector, a snapshot file, a sentence about
/// AWS; the cluster (or the configuration that reaches it) for the rest.
impl Classified for ClusterError {
    fn fault(&self) -> Fault {
        match self {
            Self::UnknownResource(_) | Self::LabelSelector(_) | Self::Snapshot(_) | Self::NotAboutCluster => {
                Fault::Input
            }
            Self::Config(_) | Self::Api { .. } => Fault::Infrastructure,
        }
    }
}

/// Why [`Cluster::verify`] could not give a verdict.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VerifyError {
    /// The sentence is empty or invalid.
    #[error(transparent)]
    Sentence(#[from] SentenceError),
    /// The cluster could not be asked.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

impl Classified for VerifyError {
    fn fault(&self) -> Fault {
        match self {
            Self::Sentence(e) => e.fault(),
            Self::Cluster(e) => e.fault(),
        }
    }
}

/// Objects of one query, with the resource version a watch can start from.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// The objects, as JSON; shared by every caller of a coalesced LIST, never copied for each.
    pub objects: Arc<[Value]>,
    /// `metadata.resourceVersion` of the list, when the source has one.
    pub resource_version: Option<String>,
}

#[derive(Debug)]
enum Backend {
    Snapshot(Snapshot),
    #[cfg(feature = "kube")]
    Live(Box<LiveCluster>),
}

/// A cluster to evaluate sentences against: live or a snapshot. Cheap to share behind an `Arc`.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use precheck::cluster::{Cluster, Snapshot};
///
/// let snapshot = Snapshot::from_yaml(
///     "apiVersion: v1\nkind: Pod\nmetadata: {name: nginx-1, namespace: default}\nstatus: {phase: Running}\n",
/// )
/// .unwrap();
/// let cluster = Cluster::from_snapshot(snapshot);
/// assert!(cluster.verify("there is 1 pod named 'nginx'").await.unwrap().passed);
/// assert!(cluster.verify("'status' is 'running' for pods named 'nginx'").await.unwrap().passed);
/// # });
/// ```
#[derive(Debug)]
pub struct Cluster {
    backend: Backend,
    namespaces: Namespaces,
}

impl Cluster {
    /// A cluster answered from a snapshot; the default namespace is `default`.
    pub fn from_snapshot(snapshot: Snapshot) -> Self {
        Self { backend: Backend::Snapshot(snapshot), namespaces: Namespaces::One("default".into()) }
    }

    /// Connects like kubectl: `KUBECONFIG` or `~/.kube/config` and its current context, or the in-cluster
    /// service account. The default namespace is the context's.
    #[cfg(feature = "kube")]
    pub async fn from_kubeconfig() -> Result<Self, ClusterError> {
        Self::connect(&ConnectOptions::default()).await
    }

    /// Connects with explicit options (kubeconfig file, context).
    #[cfg(feature = "kube")]
    pub async fn connect(options: &ConnectOptions) -> Result<Self, ClusterError> {
        let live = LiveCluster::connect(options).await?;
        let namespaces = Namespaces::One(live.default_namespace().to_owned());
        Ok(Self { backend: Backend::Live(Box::new(live)), namespaces })
    }

    /// The same cluster, looking in `namespaces` when a sentence does not say.
    pub fn with_namespaces(mut self, namespaces: Namespaces) -> Self {
        self.namespaces = namespaces;
        self
    }

    /// Where sentences look when they do not say.
    pub fn namespaces(&self) -> &Namespaces {
        &self.namespaces
    }

    /// HTTP requests made to the API server so far (0 for a snapshot).
    pub fn requests(&self) -> u64 {
        match &self.backend {
            Backend::Snapshot(_) => 0,
            #[cfg(feature = "kube")]
            Backend::Live(live) => live.requests(),
        }
    }

    /// Parses and evaluates one sentence; an `at most …` sentence waits until it holds or its budget is spent.
    pub async fn verify(&self, sentence: &str) -> Result<Verdict, VerifyError> {
        let sentence = parse_sentence(sentence)?;
        Ok(self.check(&sentence, None).await?)
    }

    /// Evaluates a parsed sentence. `scope` is the check file's namespace, used when the sentence names none.
    pub async fn check(&self, sentence: &Sentence, scope: Option<&Namespaces>) -> Result<Verdict, ClusterError> {
        let Some(assertion) = sentence.cluster() else {
            return Err(ClusterError::NotAboutCluster);
        };
        let namespaces = self.namespaces_for(assertion, scope);
        match sentence.retry {
            None => {
                let listing = self.list(assertion, &namespaces).await?;
                Ok(evaluate(assertion, &listing.objects))
            }
            Some(retry) => self.wait(assertion, &namespaces, retry).await,
        }
    }

    /// Why `verdict` of `sentence` did not hold, as the cluster tells it ([`crate::diagnosis`]): the
    /// objects that did not satisfy it (every object found, for a count), described at `level` within
    /// `budget` (at most [`TIME_BUDGET`](crate::diagnosis::TIME_BUDGET) is meant). Nothing for a snapshot (it has no events or logs to add), or at
    /// [`Level::None`](crate::diagnosis::Level::None).
    #[cfg_attr(not(feature = "kube"), allow(unused_variables))]
    pub async fn diagnose(
        &self,
        sentence: &Sentence,
        verdict: &Verdict,
        scope: Option<&Namespaces>,
        level: crate::diagnosis::Level,
        budget: std::time::Duration,
    ) -> crate::diagnosis::Found {
        let Some(assertion) = sentence.cluster() else {
            return Default::default();
        };
        let namespaces = self.namespaces_for(assertion, scope);
        self.diagnose_verdict(&assertion.target.resource.value, &namespaces, verdict, level, budget).await
    }

    /// Why `verdict` on objects of the resource `word` in `namespaces` did not hold, as the cluster tells
    /// it: see [`Cluster::diagnose`]; object assertions use it too.
    #[cfg_attr(not(feature = "kube"), allow(unused_variables))]
    pub async fn diagnose_verdict(
        &self,
        word: &str,
        namespaces: &Namespaces,
        verdict: &Verdict,
        level: crate::diagnosis::Level,
        budget: std::time::Duration,
    ) -> crate::diagnosis::Found {
        if level == crate::diagnosis::Level::None {
            return Default::default();
        }
        match &self.backend {
            Backend::Snapshot(_) => Default::default(),
            #[cfg(feature = "kube")]
            Backend::Live(live) => {
                let bad: Vec<_> = verdict.observed.iter().filter(|o| !o.ok).collect();
                let looked_at = if bad.is_empty() { verdict.observed.iter().collect() } else { bad };
                if looked_at.is_empty() {
                    let place = match namespaces {
                        Namespaces::One(ns) => format!("namespace {ns}"),
                        Namespaces::All => "any namespace".to_owned(),
                    };
                    let line = format!("[no {word} matched in {place}: nothing to describe]");
                    return crate::diagnosis::Found { lines: vec![line], masks: Vec::new() };
                }
                let objects: Vec<(Option<String>, String)> =
                    looked_at.iter().map(|o| (o.namespace.clone(), o.name.clone())).collect();
                live.diagnose(word, &objects, level, budget).await
            }
        }
    }

    /// The verdict of the partial object `doc` on the objects of its kind in `namespaces` (by its name or
    /// labels): with `present`, one of them must match it; without, none. With `retry`, a live cluster
    /// watches until the verdict holds or the budget is spent; a snapshot is judged once.
    #[cfg_attr(not(feature = "kube"), allow(unused_variables))]
    pub async fn judge_objects(
        &self,
        doc: &crate::object::Expected,
        namespaces: &Namespaces,
        present: bool,
        retry: Option<Retry>,
    ) -> Result<Verdict, ClusterError> {
        let word = doc.resource();
        let judge = |objects: &[Value]| crate::object::judge(doc, objects, present);
        match &self.backend {
            Backend::Snapshot(snapshot) => {
                let kind = snapshot.resources().resolve(&word)?;
                let selector = doc.labels.as_deref().map(LabelSelector::parse).transpose()?;
                Ok(judge(&snapshot.list(kind, namespaces, selector.as_ref())))
            }
            #[cfg(feature = "kube")]
            Backend::Live(live) => {
                let selection = Selection { labels: doc.labels.as_deref(), name: doc.name.as_deref() };
                match retry {
                    None => Ok(judge(&live.list(&word, namespaces, selection).await?.objects)),
                    Some(retry) => live.wait(&word, namespaces, selection, retry.budget(), retry.interval, judge).await,
                }
            }
        }
    }

    fn namespaces_for(&self, assertion: &ClusterAssertion, scope: Option<&Namespaces>) -> Namespaces {
        match &assertion.target.scope {
            Some(Scope::Namespace(ns)) => Namespaces::One(ns.value.clone()),
            Some(Scope::AllNamespaces) => Namespaces::All,
            None => scope.unwrap_or(&self.namespaces).clone(),
        }
    }

    /// Lists the objects a target selects (type, namespace, labels; the name pattern is applied by
    /// evaluation).
    pub async fn list(&self, assertion: &ClusterAssertion, namespaces: &Namespaces) -> Result<Listing, ClusterError> {
        let target = &assertion.target;
        let labels = target.labels.as_ref().map(|l| l.value.as_str());
        match &self.backend {
            Backend::Snapshot(snapshot) => {
                let kind = snapshot.resources().resolve(&target.resource.value)?;
                let selector = labels.map(LabelSelector::parse).transpose()?;
                Ok(Listing {
                    objects: snapshot.list(kind, namespaces, selector.as_ref()).into(),
                    resource_version: None,
                })
            }
            #[cfg(feature = "kube")]
            Backend::Live(live) => {
                let (labels, name) = server_selection(target)?;
                live.list(&target.resource.value, namespaces, Selection { labels, name: name.as_deref() }).await
            }
        }
    }

    /// Waits for `assertion` to hold: the live cluster watches and re-evaluates on every change; a snapshot
    /// cannot change, so it is evaluated once.
    ///
    /// The budget is spent evenly: evaluations at the start and at the end of `(attempts - 1) × interval`,
    /// and on every change in between (live) — never a sleep after the last attempt.
    #[cfg_attr(not(feature = "kube"), allow(unused_variables))]
    async fn wait(
        &self,
        assertion: &ClusterAssertion,
        namespaces: &Namespaces,
        retry: Retry,
    ) -> Result<Verdict, ClusterError> {
        match &self.backend {
            Backend::Snapshot(_) => {
                let listing = self.list(assertion, namespaces).await?;
                Ok(evaluate(assertion, &listing.objects))
            }
            #[cfg(feature = "kube")]
            Backend::Live(live) => {
                let (labels, name) = server_selection(&assertion.target)?;
                let budget = retry.budget();
                let selection = Selection { labels, name: name.as_deref() };
                live.wait(&assertion.target.resource.value, namespaces, selection, budget, retry.interval, |objects| {
                    evaluate(assertion, objects)
                })
                .await
            }
        }
    }
}

/// Where clusters come from: one per kube context named by the files, created once and shared.
#[derive(Debug)]
pub struct Clusters {
    source: ClusterSource,
    #[cfg(feature = "kube")]
    namespaces: Option<Namespaces>,
    #[cfg(feature = "kube")]
    cache: tokio::sync::Mutex<std::collections::HashMap<Option<String>, Arc<Cluster>>>,
}

/// How the harness gets its clusters.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClusterSource {
    /// One fixed cluster for every file (a snapshot); `context` lines are ignored.
    Fixed(Arc<Cluster>),
    /// A live cluster per context, connected on first use.
    #[cfg(feature = "kube")]
    Live(ConnectOptions),
}

impl Clusters {
    /// Clusters from `source`; for live clusters, `namespaces` overrides the kube context's default (files
    /// and sentences that name their namespace still win). A fixed cluster keeps its own.
    pub fn new(source: ClusterSource, namespaces: Option<Namespaces>) -> Self {
        #[cfg(not(feature = "kube"))]
        let _ = namespaces;
        Self {
            source,
            #[cfg(feature = "kube")]
            namespaces,
            #[cfg(feature = "kube")]
            cache: tokio::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// The cluster for a file's context.
    #[cfg_attr(not(feature = "kube"), allow(unused_variables))]
    pub async fn get(&self, context: Option<&str>) -> Result<Arc<Cluster>, ClusterError> {
        match &self.source {
            // A snapshot has no contexts: `context` lines do not apply to it.
            ClusterSource::Fixed(cluster) => Ok(cluster.clone()),
            #[cfg(feature = "kube")]
            ClusterSource::Live(options) => {
                let key = context.map(str::to_owned).or_else(|| options.context.clone());
                let mut cache = self.cache.lock().await;
                if let Some(cluster) = cache.get(&key) {
                    return Ok(cluster.clone());
                }
                let options = ConnectOptions { context: key.clone(), ..options.clone() };
                let mut cluster = Cluster::connect(&options).await?;
                if let Some(ns) = &self.namespaces {
                    cluster = cluster.with_namespaces(ns.clone());
                }
                let cluster = Arc::new(cluster);
                cache.insert(key, cluster.clone());
                Ok(cluster)
            }
        }
    }

    /// Variables for the commands that steps run, so `kubectl` talks to the same cluster: `KUBECONFIG` when
    /// a kubeconfig file was given.
    pub fn command_env(&self) -> Vec<(String, String)> {
        match &self.source {
            ClusterSource::Fixed(_) => Vec::new(),
            #[cfg(feature = "kube")]
            ClusterSource::Live(options) => options
                .kubeconfig
                .iter()
                .map(|path| {
                    let path = std::path::absolute(path).unwrap_or_else(|_| path.clone());
                    ("KUBECONFIG".to_owned(), path.display().to_string())
                })
                .collect(),
        }
    }

    /// HTTP requests made by every cluster so far.
    pub async fn requests(&self) -> u64 {
        match &self.source {
            ClusterSource::Fixed(c) => c.requests(),
            #[cfg(feature = "kube")]
            ClusterSource::Live(_) => self.cache.lock().await.values().map(|c| c.requests()).sum(),
        }
    }
}

/// What a target asks the server for: its label selector (checked first, so a bad one is invalid input
/// and not the server's 400) and the exact name of a pattern anchored at both ends; evaluation still applies
/// the whole sentence.
#[cfg(feature = "kube")]
fn server_selection(target: &precheck_lang::Target) -> Result<(Option<&str>, Option<String>), ClusterError> {
    let labels = target.labels.as_ref().map(|l| l.value.as_str());
    if let Some(labels) = labels {
        LabelSelector::parse(labels)?;
    }
    Ok((labels, target.name.as_ref().and_then(|n| n.value.exact_text())))
}
