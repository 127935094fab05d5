//! A live cluster through kube-rs: kubeconfig and contexts like kubectl, discovery that resolves every
//! resource word, coalesced LISTs and watch-driven waiting.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use kube::api::{Api, DynamicObject, ListParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::ApiResource;
use kube::{Client, Config};
use serde_json::Value;

mod diagnosis;

use super::resources::{ResourceKind, ResourceTable};
use super::{ClusterError, Listing, Namespaces};
use crate::coalesce::Coalescer;
use crate::evaluate::Verdict;

/// How long one API call (every attempt of it) may take before the cluster counts as not answering.
/// kube-rs sets no read timeout (watches are long), so every list and discovery call is bounded here.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How long one attempt of a call may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);

/// Attempts of one call at most, when the failures are transient.
pub const MAX_ATTEMPTS: usize = 8;

/// The longest pause between two attempts (they grow from 100 ms, with jitter).
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The budget of discovering one API group's resources.
const GROUP_BUDGET: Duration = Duration::from_secs(8);

/// Whether a failed attempt is worth another: the server was busy or broken for a moment (429, 500, 502,
/// 503, 504), the connection failed or was cut (a reset, a body cut short, which also shows as JSON that
/// ends early), or the attempt took too long. Denials, unknown resources and bad requests are not.
fn transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => matches!(status.code, 429 | 500 | 502 | 503 | 504),
        // A TLS handshake refused (a certificate the kubeconfig's CA did not sign, a wrong server name)
        // stays refused: asking again would only hide why.
        kube::Error::HyperError(_) | kube::Error::Service(_) if tls_refused(error) => false,
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => true,
        kube::Error::SerdeError(e) => e.is_eof() || e.is_io(),
        _ => false,
    }
}

/// The errors below `error`, outermost first (an I/O error's own message holds the one it wraps).
fn causes(error: &kube::Error) -> impl Iterator<Item = &(dyn std::error::Error + 'static)> {
    std::iter::successors(std::error::Error::source(error), |e| e.source())
}

/// True when a connection failed in its TLS handshake: rustls reports that as invalid data
/// (hyper-rustls wraps it in an I/O error of its own).
fn tls_refused(error: &kube::Error) -> bool {
    causes(error).any(|e| {
        let mut io = e.downcast_ref::<std::io::Error>();
        while let Some(error) = io {
            if error.kind() == std::io::ErrorKind::InvalidData {
                return true;
            }
            io = error.get_ref().and_then(|inner| inner.downcast_ref::<std::io::Error>());
        }
        false
    })
}

/// An error with its causes, as a user needs it: `client error (Connect): invalid peer certificate:
/// UnknownIssuer`, not `client error (Connect)`.
fn describe(error: &kube::Error) -> String {
    // The API server's own words and its status, without the dump of the whole answer.
    if let kube::Error::Api(status) = error {
        return format!("{} ({} {})", status.message, status.code, status.reason);
    }
    let mut text = error.to_string();
    for cause in causes(error) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

/// The pause a 429 answer asks for (the API server's `Status.details.retryAfterSeconds`, which it sends
/// with the `Retry-After` header), at most 20 s.
fn retry_after(error: &kube::Error) -> Option<Duration> {
    let kube::Error::Api(status) = error else { return None };
    let seconds = status.details.as_ref()?.retry_after_seconds;
    (seconds > 0).then(|| Duration::from_secs(u64::from(seconds).min(20)))
}

/// How long a cluster that did not answer a call (every attempt failed on a transient error) is taken as
/// gone: calls in that time fail at once instead of spending their own budget, so a run against a cluster
/// that went away ends in seconds, not in minutes per test. The first call after it asks again.
pub const GONE_FOR: Duration = Duration::from_secs(30);

/// What every call of one client shares: the request count, and whether the cluster was found gone.
#[derive(Debug, Default)]
struct Calls {
    requests: AtomicU64,
    /// When and why the last call that spent its whole budget failed.
    gone: std::sync::Mutex<Option<(tokio::time::Instant, String)>>,
}

/// Runs one API call: each attempt bounded by [`ATTEMPT_TIMEOUT`], transient failures retried with
/// exponential backoff and jitter (at most [`MAX_ATTEMPTS`], [`MAX_BACKOFF`] apart), the whole bounded by
/// [`REQUEST_TIMEOUT`]. A 429's `retryAfterSeconds` is honoured. When the whole budget is spent, the
/// cluster counts as gone for [`GONE_FOR`].
async fn bounded<T, F>(action: &str, calls: &Calls, call: impl Fn() -> F) -> Result<T, ClusterError>
where
    F: std::future::Future<Output = Result<T, kube::Error>>,
{
    bounded_by(action, calls, ATTEMPT_TIMEOUT, REQUEST_TIMEOUT, call).await
}

/// [`bounded`] with other bounds: `attempt` per attempt, `total` for all.
async fn bounded_by<T, F>(
    action: &str,
    calls: &Calls,
    attempt: Duration,
    total: Duration,
    call: impl Fn() -> F,
) -> Result<T, ClusterError>
where
    F: std::future::Future<Output = Result<T, kube::Error>>,
{
    let gone = calls.gone.lock().expect("gone lock").clone();
    if let Some((when, why)) = gone.filter(|(when, _)| when.elapsed() < GONE_FOR) {
        let ago = when.elapsed().as_secs();
        return Err(api_error(action, format!("{why} (the cluster did not answer {ago}s ago; not asked again yet)")));
    }
    let result = bounded_within(action, calls, attempt, total, MAX_ATTEMPTS, call).await;
    match &result {
        Err(ClusterError::Api { message, .. }) if message.starts_with(GAVE_UP) => {
            *calls.gone.lock().expect("gone lock") = Some((tokio::time::Instant::now(), message.clone()));
        }
        Ok(_) => *calls.gone.lock().expect("gone lock") = None,
        Err(_) => {}
    }
    result
}

/// API calls made as checks make them: each attempt bounded (20 s by default), transient failures (429,
/// 500, 502, 503, 504, resets, bodies cut short, slow attempts) retried with exponential backoff and
/// jitter, at most 8 attempts within a budget (60 s by default); once a call spent its whole budget, the
/// cluster counts as gone for 30 s and the calls sharing this value fail at once. For calls that may be
/// repeated: reads, server-side apply. Clones share the count and the memory of a cluster gone.
///
/// ```no_run
/// # async fn read() -> Result<(), precheck::cluster::ClusterError> {
/// use k8s_openapi::api::core::v1::ConfigMap;
/// let (client, namespace) = precheck::cluster::client(&Default::default()).await?;
/// let api: kube::Api<ConfigMap> = kube::Api::namespaced(client, &namespace);
/// let calls = precheck::cluster::BoundedCalls::default();
/// let settings = calls.run("read ConfigMap/settings", || api.get("settings")).await?;
/// println!("{:?} after {} requests", settings.data, calls.requests());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct BoundedCalls {
    calls: Arc<Calls>,
    attempt: Duration,
    total: Duration,
}

impl Default for BoundedCalls {
    fn default() -> Self {
        Self::with_bounds(ATTEMPT_TIMEOUT, REQUEST_TIMEOUT)
    }
}

impl BoundedCalls {
    /// Calls bounded by `attempt` per attempt and `total` in all (the default: 20 s and 60 s), e.g. for
    /// calls that may take long on a healthy server (a server-side apply that runs admission webhooks).
    pub fn with_bounds(attempt: Duration, total: Duration) -> Self {
        Self { calls: Arc::default(), attempt, total }
    }

    /// Runs `call` (once per attempt) within the bounds; `action` names it in errors
    /// (`could not ask the cluster (ACTION): …`).
    pub async fn run<T, F>(&self, action: &str, call: impl Fn() -> F) -> Result<T, ClusterError>
    where
        F: std::future::Future<Output = Result<T, kube::Error>>,
    {
        bounded_by(action, &self.calls, self.attempt, self.total, call).await
    }

    /// HTTP requests made so far through [`BoundedCalls::run`].
    pub fn requests(&self) -> u64 {
        self.calls.requests.load(Ordering::Relaxed)
    }
}

/// Objects asked for per LIST request (kubectl's `--chunk-size`): big lists come in pages of bounded size,
/// and a server that pages on its own is followed to the end.
const LIST_PAGE: u32 = 500;

/// How the message of a call that spent its budget on transient failures starts.
const GAVE_UP: &str = "gave up after ";

/// [`bounded`] with a budget of its own: `total` for every attempt, at most `attempts`; no memory of a
/// cluster gone (a broken aggregated API is not the cluster).
async fn bounded_within<T, F>(
    action: &str,
    calls: &Calls,
    attempt_timeout: Duration,
    total: Duration,
    attempts: usize,
    call: impl Fn() -> F,
) -> Result<T, ClusterError>
where
    F: std::future::Future<Output = Result<T, kube::Error>>,
{
    use backon::BackoffBuilder;
    let deadline = tokio::time::Instant::now() + total;
    let mut delays = backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(MAX_BACKOFF)
        .with_jitter()
        .with_max_times(attempts.saturating_sub(1))
        .build();
    let mut attempt = 0;
    loop {
        calls.requests.fetch_add(1, Ordering::Relaxed);
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let (error, asked) = match tokio::time::timeout(attempt_timeout.min(left), call()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) if !transient(&e) => return Err(api_error(action, describe(&e))),
            Ok(Err(e)) => (describe(&e), retry_after(&e)),
            Err(_) => (format!("no answer within {}s", attempt_timeout.min(left).as_secs_f32().ceil()), None),
        };
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        attempt += 1;
        match delays.next().map(|d| asked.map_or(d, |a| a.max(d))) {
            Some(delay) if delay < left => tokio::time::sleep(delay).await,
            _ => {
                let s = if attempt == 1 { "" } else { "s" };
                return Err(api_error(action, format!("{GAVE_UP}{attempt} attempt{s}: {error}")));
            }
        }
    }
}

/// How to reach the cluster; the defaults behave like kubectl with no flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    /// A kubeconfig file instead of `KUBECONFIG` / `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// A context instead of the current one.
    pub context: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ListKey {
    api_version: String,
    plural: String,
    namespace: Option<String>,
    labels: Option<String>,
    name: Option<String>,
}

/// Which objects of a kind to ask the server for: those with these labels (a label selector), and only the
/// one of this name when a sentence names an object exactly (`named '^nginx$'`: a field selector, so the
/// server sends one object instead of the namespace). Evaluation still applies the whole sentence.
///
/// ```
/// use precheck::cluster::Selection;
///
/// let selection = Selection { labels: Some("app=nginx"), name: None };
/// assert_eq!(selection.to_string(), " with labels app=nginx");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Selection<'a> {
    /// A Kubernetes label selector.
    pub labels: Option<&'a str>,
    /// The exact name of the one object wanted.
    pub name: Option<&'a str>,
}

impl Selection<'_> {
    /// The field selector that names the object.
    fn fields(&self) -> Option<String> {
        self.name.map(|name| format!("metadata.name={name}"))
    }

    fn list_params(&self, by_name: bool) -> ListParams {
        ListParams {
            label_selector: self.labels.map(str::to_owned),
            field_selector: self.fields().filter(|_| by_name),
            ..ListParams::default()
        }
    }

    fn watch_params(&self, seconds: u32) -> WatchParams {
        WatchParams {
            label_selector: self.labels.map(str::to_owned),
            field_selector: self.fields(),
            ..WatchParams::default().timeout(seconds)
        }
    }
}

/// How a selection reads in an action (`list pods in namespace default named nginx`).
impl std::fmt::Display for Selection<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(name) = self.name {
            write!(f, " named {name}")?;
        }
        if let Some(labels) = self.labels {
            write!(f, " with labels {labels}")?;
        }
        Ok(())
    }
}

/// One client for the whole run, shared by every test.
pub struct LiveCluster {
    client: Client,
    default_namespace: String,
    /// The discovered resources; read without waiting, so concurrent queries reach the list together.
    resources: std::sync::RwLock<Option<Arc<ResourceTable>>>,
    /// Held while discovery runs, so concurrent misses discover once.
    discovering: tokio::sync::Mutex<()>,
    calls: Arc<Calls>,
    lists: Coalescer<ListKey, Result<Arc<Listing>, ClusterError>>,
}

impl std::fmt::Debug for LiveCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The client holds credentials: never print it.
        f.debug_struct("LiveCluster").field("default_namespace", &self.default_namespace).finish_non_exhaustive()
    }
}

fn api_error(action: impl Into<String>, error: impl std::fmt::Display) -> ClusterError {
    ClusterError::Api { action: action.into(), message: error.to_string() }
}

/// A kube client configured like kubectl (kubeconfig, context, in-cluster), and the context's namespace.
/// No request is made. kube-rs's own retries are off (up to 15, for minutes, hidden inside one call):
/// run calls through [`BoundedCalls`] to retry them within bounds.
pub async fn client(options: &ConnectOptions) -> Result<(Client, String), ClusterError> {
    let mut config = config(options).await?;
    config.default_retry = false;
    let default_namespace = config.default_namespace.clone();
    let client = Client::try_from(config).map_err(|e| ClusterError::Config(format!("cannot create a client: {e}")))?;
    Ok((client, default_namespace))
}

/// The client configuration kubectl would use.
async fn config(options: &ConnectOptions) -> Result<Config, ClusterError> {
    let kube_options = KubeConfigOptions { context: options.context.clone(), ..Default::default() };
    let config = match &options.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .map_err(|e| ClusterError::Config(format!("cannot read kubeconfig {}: {e}", path.display())))?;
            Config::from_custom_kubeconfig(kubeconfig, &kube_options)
                .await
                .map_err(|e| ClusterError::Config(format!("kubeconfig {}: {e}", path.display())))?
        }
        None if options.context.is_some() => Config::from_kubeconfig(&kube_options)
            .await
            .map_err(|e| ClusterError::Config(format!("kubeconfig: {e}")))?,
        None => Config::infer().await.map_err(|e| {
            ClusterError::Config(format!("no cluster configured (KUBECONFIG, ~/.kube/config or in-cluster): {e}"))
        })?,
    };
    Ok(config)
}

impl LiveCluster {
    /// Loads the configuration like kubectl and creates the client (no request is made yet).
    pub async fn connect(options: &ConnectOptions) -> Result<Self, ClusterError> {
        // Calls are retried by `bounded`, within budgets of their own (the client retries nothing itself).
        let (client, default_namespace) = client(options).await?;
        Ok(Self {
            client,
            default_namespace,
            resources: std::sync::RwLock::new(None),
            discovering: tokio::sync::Mutex::new(()),
            calls: Arc::new(Calls::default()),
            lists: Coalescer::new(),
        })
    }

    /// The namespace of the kube context (`default` when it names none).
    pub fn default_namespace(&self) -> &str {
        &self.default_namespace
    }

    /// HTTP requests made so far (discovery, lists and watches).
    pub fn requests(&self) -> u64 {
        self.calls.requests.load(Ordering::Relaxed)
    }

    fn count(&self) {
        self.calls.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Resolves a resource word with discovery; discovery runs once, and again when a word is unknown
    /// (a CRD installed by a setup step).
    pub async fn resolve(&self, word: &str) -> Result<ResourceKind, ClusterError> {
        let known = || self.resources.read().expect("resources lock").clone();
        if let Some(Ok(kind)) = known().map(|table| table.resolve(word).cloned()) {
            return Ok(kind);
        }
        let before = known();
        let _discovering = self.discovering.lock().await;
        let current = known();
        // Another task may have discovered while this one waited.
        let table = match current {
            Some(table) if !before.as_ref().is_some_and(|b| Arc::ptr_eq(b, &table)) => table,
            _ => {
                let table = Arc::new(self.discover().await?);
                *self.resources.write().expect("resources lock") = Some(table.clone());
                table
            }
        };
        Ok(table.resolve(word)?.clone())
    }

    async fn discover(&self) -> Result<ResourceTable, ClusterError> {
        let calls = &*self.calls;
        let core = bounded("discover /api/v1", calls, || self.client.list_core_api_resources("v1")).await?;
        let groups = bounded("discover /apis", calls, || self.client.list_api_groups()).await?;
        let mut table = ResourceTable::default();
        add_resources(&mut table, "", "v1", core.resources);
        let versions: Vec<String> = groups
            .groups
            .iter()
            .filter_map(|g| g.preferred_version.as_ref().or(g.versions.first()).map(|v| v.group_version.clone()))
            .collect();
        // A broken aggregated API (metrics.k8s.io without its server answers 503 for good) gets a short
        // budget: a moment's fault is retried, a lasting one does not hold up every check.
        let lists = futures::future::join_all(versions.iter().map(|gv| {
            bounded_within("discover", calls, ATTEMPT_TIMEOUT, GROUP_BUDGET, 4, || {
                self.client.list_api_group_resources(gv)
            })
        }))
        .await;
        for (group_version, list) in versions.iter().zip(lists) {
            // Like kubectl, one broken aggregated API does not stop discovery of the others.
            let Ok(list) = list else { continue };
            let (group, version) = group_version.split_once('/').unwrap_or(("", group_version));
            add_resources(&mut table, group, version, list.resources);
        }
        Ok(table)
    }

    fn api(&self, kind: &ResourceKind, namespaces: &Namespaces) -> Api<DynamicObject> {
        let resource = ApiResource {
            group: kind.group.clone(),
            version: kind.version.clone(),
            api_version: kind.api_version(),
            kind: kind.kind.clone(),
            plural: kind.plural.clone(),
        };
        match namespaces {
            Namespaces::One(ns) if kind.namespaced => Api::namespaced_with(self.client.clone(), ns, &resource),
            _ => Api::all_with(self.client.clone(), &resource),
        }
    }

    /// Lists the objects of a resource word. Identical LISTs running at the same time share one request.
    pub async fn list(
        &self,
        word: &str,
        namespaces: &Namespaces,
        selection: Selection<'_>,
    ) -> Result<Listing, ClusterError> {
        let kind = self.resolve(word).await?;
        self.list_kind(&kind, namespaces, selection).await
    }

    async fn list_kind(
        &self,
        kind: &ResourceKind,
        namespaces: &Namespaces,
        selection: Selection<'_>,
    ) -> Result<Listing, ClusterError> {
        let key = ListKey {
            api_version: kind.api_version(),
            plural: kind.plural.clone(),
            namespace: match namespaces {
                Namespaces::One(ns) if kind.namespaced => Some(ns.clone()),
                _ => None,
            },
            labels: selection.labels.map(str::to_owned),
            name: selection.name.map(str::to_owned),
        };
        let api = self.api(kind, namespaces);
        let calls = self.calls.clone();
        let action = describe_list(kind, namespaces, selection);
        // By name when the sentence names one object; `all` when the server cannot select by name.
        let (params, all) = (selection.list_params(true), selection.list_params(false));
        let result = self
            .lists
            .run(key, move || {
                async move {
                    // Page by page, as kubectl does: each page a bounded call of its own (a retry asks
                    // again for that page only), all pages read from the snapshot of the first.
                    let mut objects = Vec::new();
                    let mut next: Option<String> = None;
                    let mut params = params;
                    let resource_version = loop {
                        let page = match &next {
                            Some(token) => params.clone().limit(LIST_PAGE).continue_token(token),
                            None => params.clone().limit(LIST_PAGE),
                        };
                        let list = match bounded(&action, &calls, || api.list(&page)).await {
                            // A server that cannot select by name (some aggregated APIs) is asked for all.
                            Err(ClusterError::Api { message, .. })
                                if next.is_none() && page.field_selector.is_some() && message.contains("(400 ") =>
                            {
                                params = all.clone();
                                continue;
                            }
                            list => list?,
                        };
                        objects.extend(list.items.into_iter().map(to_value));
                        match list.metadata.continue_ {
                            Some(token) if !token.is_empty() => next = Some(token),
                            _ => break list.metadata.resource_version,
                        }
                    };
                    Ok(Arc::new(Listing { objects: objects.into(), resource_version }))
                }
                .boxed()
            })
            .await;
        result.map(|listing| (*listing).clone())
    }

    /// Evaluates with `eval` until it passes or `budget` (counted from the first evaluation) is spent,
    /// re-evaluating on every change the watch reports. A watch that ends or fails is re-established after
    /// a fresh LIST, so no change is missed; where no watch can be opened, it polls once per `interval`.
    pub(crate) async fn wait(
        &self,
        word: &str,
        namespaces: &Namespaces,
        selection: Selection<'_>,
        budget: Duration,
        interval: Duration,
        eval: impl Fn(&[Value]) -> Verdict,
    ) -> Result<Verdict, ClusterError> {
        let kind = self.resolve(word).await?;
        let listing = self.list_kind(&kind, namespaces, selection).await?;
        let verdict = eval(&listing.objects);
        if verdict.passed || budget.is_zero() {
            return Ok(verdict);
        }
        let deadline = tokio::time::Instant::now() + budget;
        let mut cache = Cache::from(&listing.objects);
        let mut version = listing.resource_version.unwrap_or_else(|| "0".into());
        // The least time between two requests, so a server that ends every watch at once is not hammered.
        let pause = interval.clamp(Duration::from_millis(100), Duration::from_secs(1));
        'watching: while !remaining(deadline).is_zero() {
            let seconds = remaining(deadline).as_secs().clamp(1, 290) as u32;
            let params = selection.watch_params(seconds);
            self.count();
            let api = self.api(&kind, namespaces);
            let opened = tokio::time::Instant::now();
            let open_limit = REQUEST_TIMEOUT.min(remaining(deadline) + Duration::from_secs(1));
            match tokio::time::timeout(open_limit, api.watch(&params, &version)).await {
                Ok(Ok(stream)) => {
                    let mut stream = std::pin::pin!(stream);
                    loop {
                        let event = tokio::select! {
                            () = tokio::time::sleep_until(deadline) => break 'watching,
                            event = stream.next() => event,
                        };
                        match event {
                            Some(Ok(WatchEvent::Added(o) | WatchEvent::Modified(o))) => {
                                version = o.metadata.resource_version.clone().unwrap_or(version);
                                cache.put(to_value(o));
                            }
                            Some(Ok(WatchEvent::Deleted(o))) => {
                                version = o.metadata.resource_version.clone().unwrap_or(version);
                                cache.remove(&to_value(o));
                            }
                            Some(Ok(WatchEvent::Bookmark(b))) => {
                                version = b.metadata.resource_version;
                                continue;
                            }
                            // 410 Gone, a dropped connection or the server's timeout: resynchronise below.
                            Some(Ok(WatchEvent::Error(_)) | Err(_)) | None => break,
                        }
                        let verdict = eval(&cache.objects());
                        if verdict.passed {
                            return Ok(verdict);
                        }
                    }
                    if opened.elapsed() < pause {
                        tokio::time::sleep(pause.min(remaining(deadline))).await;
                    }
                }
                // No watch (refused, unsupported or not answered): poll, one list per interval.
                _ => tokio::time::sleep(interval.max(pause).min(remaining(deadline))).await,
            }
            if remaining(deadline).is_zero() {
                break;
            }
            match self.list_kind(&kind, namespaces, selection).await {
                Ok(listing) => {
                    let verdict = eval(&listing.objects);
                    if verdict.passed {
                        return Ok(verdict);
                    }
                    cache = Cache::from(&listing.objects);
                    version = listing.resource_version.unwrap_or_else(|| "0".into());
                }
                Err(_) => tokio::time::sleep(pause.min(remaining(deadline))).await,
            }
        }
        // The last attempt reads the cluster afresh, so a missed event cannot decide the outcome.
        let listing = self.list_kind(&kind, namespaces, selection).await?;
        Ok(eval(&listing.objects))
    }
}

fn describe_list(kind: &ResourceKind, namespaces: &Namespaces, selection: Selection<'_>) -> String {
    let mut text = format!("list {}", kind.plural);
    if !kind.group.is_empty() {
        text.push('.');
        text.push_str(&kind.group);
    }
    match namespaces {
        Namespaces::One(ns) if kind.namespaced => text.push_str(&format!(" in namespace {ns}")),
        _ if kind.namespaced => text.push_str(" in all namespaces"),
        _ => {}
    }
    text.push_str(&selection.to_string());
    text
}

fn add_resources(
    table: &mut ResourceTable,
    group: &str,
    version: &str,
    resources: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResource>,
) {
    for r in resources {
        // Sub-resources (`pods/log`) cannot be listed, and kinds that cannot be listed cannot be asserted on.
        if r.name.contains('/') || !r.verbs.iter().any(|v| v == "list") {
            continue;
        }
        table.add(ResourceKind {
            group: group.to_owned(),
            version: version.to_owned(),
            singular: if r.singular_name.is_empty() { r.kind.to_ascii_lowercase() } else { r.singular_name },
            kind: r.kind,
            plural: r.name,
            short_names: r.short_names.unwrap_or_default(),
            namespaced: r.namespaced,
        });
    }
}

fn to_value(object: DynamicObject) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}

/// The objects a watch has told about, by namespace and name.
struct Cache(BTreeMap<(String, String), Value>);

impl Cache {
    fn key(object: &Value) -> (String, String) {
        let meta = &object["metadata"];
        let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        (s(&meta["namespace"]), s(&meta["name"]))
    }

    fn from(objects: &[Value]) -> Self {
        Self(objects.iter().map(|o| (Self::key(o), o.clone())).collect())
    }

    fn put(&mut self, object: Value) {
        self.0.insert(Self::key(&object), object);
    }

    fn remove(&mut self, object: &Value) {
        self.0.remove(&Self::key(object));
    }

    fn objects(&self) -> Vec<Value> {
        self.0.values().cloned().collect()
    }
}

/// Time left until `deadline`, zero when it has passed.
fn remaining(deadline: tokio::time::Instant) -> Duration {
    deadline.saturating_duration_since(tokio::time::Instant::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection error as hyper-util wraps the connector's I/O error.
    #[derive(Debug)]
    struct Connect(std::io::Error);

    impl std::fmt::Display for Connect {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("client error (Connect)")
        }
    }

    impl std::error::Error for Connect {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    fn connect_error(kind: std::io::ErrorKind, message: &str) -> kube::Error {
        let inner = std::io::Error::new(kind, message.to_owned());
        kube::Error::Service(Box::new(Connect(std::io::Error::other(inner))))
    }

    #[test]
    fn a_refused_certificate_is_named_and_not_retried() {
        let error = connect_error(std::io::ErrorKind::InvalidData, "invalid peer certificate: UnknownIssuer");
        assert!(!transient(&error));
        assert_eq!(describe(&error), "ServiceError: client error (Connect): invalid peer certificate: UnknownIssuer");
        let refused = connect_error(std::io::ErrorKind::ConnectionRefused, "Connection refused (os error 111)");
        assert!(transient(&refused), "a server restarting is asked again");
    }
}
