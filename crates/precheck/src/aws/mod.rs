//! AWS preflight probes: the facts a preflight sentence needs, fetched through the AWS SDK (EC2, SSM,
//! CloudFormation, STS), then judged by the pure functions of [`judge`].
//!
//! Configuration works like the aws CLI: the default credential chain, a profile (`AWS_PROFILE` or
//! [`AwsOptions::profile`]), a region, and an endpoint URL override (`AWS_ENDPOINT_URL` or
//! [`AwsOptions::endpoint_url`]). Throttling and transient errors — AWS throttling codes, HTTP 500/502/503/504,
//! HTTP 429 (honouring `Retry-After`, as proxies and gateways send it), connection resets, cut bodies — are
//! retried by the SDK's standard retry mode (exponential backoff with jitter, at most [`MAX_ATTEMPTS`]
//! attempts, each bounded by [`ATTEMPT_TIMEOUT`]). Access denied, an unknown region or missing credentials
//! end as an [`AwsError`] naming the API action — an infrastructure error, never a failed assertion.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use precheck::aws::{Aws, AwsOptions};
//!
//! let aws = Aws::connect(&AwsOptions::default()).await?;
//! let verdict = aws.verify("parameter '/cluster/name' is 'prod-eu-1'").await?;
//! println!("{verdict}");
//! # Ok(()) }
//! ```

pub mod judge;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, retry::RetryConfig, timeout::TimeoutConfig};
use aws_sdk_ssm::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction, RetryClassifierPriority};
use aws_smithy_types::retry::ErrorKind;
use futures::FutureExt;
use precheck_lang::{AwsAssertion, Lookup, NetworkKind, NetworkRef, Sentence, SentenceError, parse_sentence};

use crate::coalesce::Coalescer;
use crate::evaluate::Verdict;
use crate::outcome::{Classified, Fault};
use judge::{Dhcp, Parameter, Stack, Subnet, Vpc};

/// Attempts per API call, throttling and transient errors included. With one answer in five failing,
/// eight attempts leave a call failing for good about three times in a million.
pub const MAX_ATTEMPTS: u32 = 8;

/// The longest wait between two attempts (backoff doubles from about a second, with jitter, up to this).
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The longest one attempt of an API call may take (connecting, sending, reading the answer).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);

/// The longest one API call may take, all attempts and backoff included.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(90);

/// The longest a `Retry-After` header can make a retry wait.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(20);

/// Retries HTTP 429 Too Many Requests as throttling. AWS services say "throttled" with an error code
/// (which the SDK's own classifiers know); proxies, VPC endpoints' gateways and emulators say it with 429
/// and an optional `Retry-After` in seconds, which the SDK would otherwise treat as a final client error.
#[derive(Debug)]
struct TooManyRequests;

impl ClassifyRetry for TooManyRequests {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(response) = ctx.response() else { return RetryAction::NoActionIndicated };
        if response.status().as_u16() != 429 {
            return RetryAction::NoActionIndicated;
        }
        match response.headers().get("retry-after").and_then(|v| v.trim().parse::<u64>().ok()) {
            Some(seconds) => RetryAction::retryable_error_with_explicit_delay(
                ErrorKind::ThrottlingError,
                Duration::from_secs(seconds).min(MAX_RETRY_AFTER),
            ),
            None => RetryAction::throttling_error(),
        }
    }

    fn name(&self) -> &'static str {
        "HTTP 429 Too Many Requests"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::http_status_code_classifier())
    }
}

/// How to reach the account; the defaults behave like the aws CLI with no flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsOptions {
    /// A named profile instead of `AWS_PROFILE` / `default`.
    pub profile: Option<String>,
    /// A region instead of `AWS_REGION` / the profile's.
    pub region: Option<String>,
    /// An endpoint URL for every service instead of `AWS_ENDPOINT_URL` (a local emulator, a VPC endpoint).
    pub endpoint_url: Option<String>,
}

impl AwsOptions {
    /// Variables for commands that steps run, so the aws CLI asks the same account in the same way.
    pub fn command_env(&self) -> Vec<(String, String)> {
        let mut env = Vec::new();
        if let Some(profile) = &self.profile {
            env.push(("AWS_PROFILE".to_owned(), profile.clone()));
        }
        if let Some(region) = &self.region {
            env.push(("AWS_REGION".to_owned(), region.clone()));
            env.push(("AWS_DEFAULT_REGION".to_owned(), region.clone()));
        }
        if let Some(url) = &self.endpoint_url {
            env.push(("AWS_ENDPOINT_URL".to_owned(), url.clone()));
        }
        env
    }
}

/// AWS could not be asked: the action (`ssm:GetParameter`) and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not ask AWS ({action}): {message}")]
pub struct AwsError {
    /// The API action, such as `ec2:DescribeSubnets`.
    pub action: String,
    /// The service's error code and message, or the transport's.
    pub message: String,
}

/// AWS could not be asked: infrastructure, never an assertion.
impl Classified for AwsError {
    fn fault(&self) -> Fault {
        Fault::Infrastructure
    }
}

impl Classified for AwsVerifyError {
    fn fault(&self) -> Fault {
        match self {
            Self::Sentence(e) => e.fault(),
            Self::NotAws => Fault::Input,
            Self::Aws(e) => e.fault(),
        }
    }
}

/// Why [`Aws::verify`] gave no verdict.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AwsVerifyError {
    /// The sentence is empty, invalid, or not about AWS.
    #[error(transparent)]
    Sentence(#[from] SentenceError),
    /// The sentence is about a Kubernetes cluster, not AWS.
    #[error("this sentence is about a Kubernetes cluster, not an AWS account")]
    NotAws,
    /// AWS could not be asked.
    #[error(transparent)]
    Aws(#[from] AwsError),
}

type Shared<T> = Result<Arc<T>, AwsError>;

/// SDK clients for one account, shared by every probe of a run. Identical calls made at the same moment
/// (the export list, the same subnets) are made once.
pub struct Aws {
    ec2: aws_sdk_ec2::Client,
    ssm: aws_sdk_ssm::Client,
    cloudformation: aws_sdk_cloudformation::Client,
    sts: aws_sdk_sts::Client,
    calls: Arc<AtomicU64>,
    /// The region asked, and whether an endpoint URL replaced AWS's own endpoints (for error hints).
    region: String,
    endpoint_override: bool,
    exports: Coalescer<(), Shared<BTreeMap<String, String>>>,
    subnets: Coalescer<String, Shared<Vec<Subnet>>>,
    vpcs: Coalescer<String, Shared<Vec<Vpc>>>,
    stacks: Coalescer<String, Shared<Option<Stack>>>,
    parameters: Coalescer<String, Shared<Option<Parameter>>>,
    account: Coalescer<(), Shared<String>>,
}

impl std::fmt::Debug for Aws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Clients hold credentials: never print them.
        f.debug_struct("Aws").field("calls", &self.calls()).finish_non_exhaustive()
    }
}

/// The most of an unreadable error answer shown in a message.
const MAX_SHOWN_BODY: usize = 300;

/// An SDK error as an [`AwsError`] naming the action (`cloudformation:CreateStack`): the service's code and
/// message, or the transport's causes. An error answer the SDK found neither a code nor a message in (an
/// emulator's other XML layout) is shown as it came, as an unreadable one is.
pub fn error<E>(action: &str, e: &SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let message = match e {
        SdkError::ServiceError(service) => {
            let err = service.err();
            match (err.code(), err.message()) {
                (None, None) => unreadable(service.raw(), "no error code found in the answer"),
                (code, message) => format!("{}: {}", code.unwrap_or("error"), message.unwrap_or("no message")),
            }
        }
        SdkError::ResponseError(response) => unreadable(response.raw(), &causes(e)),
        other => causes(other),
    };
    AwsError { action: action.to_owned(), message }
}

/// An answer the SDK could not read (a proxy's HTML page, an emulator's XML where JSON was due, a body cut
/// short): its status and, for error statuses only, the start of its body. A successful answer's body is
/// never shown — it may hold a decrypted SecureString.
fn unreadable(raw: &HttpResponse, why: &str) -> String {
    let status = raw.status().as_u16();
    let body = match raw.body().bytes() {
        Some(bytes) if status >= 400 && !bytes.is_empty() => {
            let text = String::from_utf8_lossy(bytes).split_whitespace().collect::<Vec<_>>().join(" ");
            let shown: String = text.chars().take(MAX_SHOWN_BODY).collect();
            let more = if shown.len() < text.len() { "…" } else { "" };
            format!(": {shown}{more}")
        }
        _ => String::new(),
    };
    format!("HTTP {status}{body} ({why})")
}

/// An error and its sources, each said once: `dispatch failure: io error: … Name or service not known`.
fn causes(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if !text.is_empty() && !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

/// True when the service answered that the thing does not exist (which is a fact, not an error).
fn is_not_found<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    let SdkError::ServiceError(service) = e else { return false };
    let err = service.err();
    match err.code() {
        Some(
            "ParameterNotFound" | "InvalidVpcID.NotFound" | "InvalidSubnetID.NotFound" | "InvalidDhcpOptionID.NotFound",
        ) => true,
        Some("ValidationError") => err.message().is_some_and(|m| m.contains("does not exist")),
        _ => false,
    }
}

fn tags(tags: &[aws_sdk_ec2::types::Tag]) -> BTreeMap<String, String> {
    tags.iter().filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned()))).collect()
}

/// How subnets or VPCs are asked for: by ids, or by one filter.
#[derive(Debug, Clone)]
enum Query {
    Ids(Vec<String>),
    Filter(String, String),
}

impl Query {
    fn key(&self) -> String {
        match self {
            Self::Ids(ids) => format!("ids:{}", ids.join(",")),
            Self::Filter(name, value) => format!("{name}={value}"),
        }
    }

    fn filter(name: &str, value: &str) -> aws_sdk_ec2::types::Filter {
        aws_sdk_ec2::types::Filter::builder().name(name).values(value).build()
    }
}

impl Aws {
    /// Loads the configuration like the aws CLI and creates the clients (no request is made yet).
    pub async fn connect(options: &AwsOptions) -> Result<Self, AwsError> {
        use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
        let http =
            aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS).with_max_backoff(MAX_BACKOFF))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .operation_timeout(CALL_TIMEOUT)
                    .build(),
            );
        if let Some(profile) = &options.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &options.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &options.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        if config.region().is_none_or(|r| r.as_ref().trim().is_empty()) {
            return Err(AwsError {
                action: "configure".into(),
                message: "no AWS region: set AWS_REGION, a region in the profile, or --aws-region".into(),
            });
        }
        let region = config.region().map(ToString::to_string).unwrap_or_default();
        let endpoint_override = config.endpoint_url().is_some();
        Ok(Self {
            ec2: aws_sdk_ec2::Client::from_conf(
                aws_sdk_ec2::config::Builder::from(&config).retry_classifier(TooManyRequests).build(),
            ),
            ssm: aws_sdk_ssm::Client::from_conf(
                aws_sdk_ssm::config::Builder::from(&config).retry_classifier(TooManyRequests).build(),
            ),
            cloudformation: aws_sdk_cloudformation::Client::from_conf(
                aws_sdk_cloudformation::config::Builder::from(&config).retry_classifier(TooManyRequests).build(),
            ),
            sts: aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(&config).retry_classifier(TooManyRequests).build(),
            ),
            region,
            endpoint_override,
            calls: Arc::new(AtomicU64::new(0)),
            exports: Coalescer::new(),
            subnets: Coalescer::new(),
            vpcs: Coalescer::new(),
            stacks: Coalescer::new(),
            parameters: Coalescer::new(),
            account: Coalescer::new(),
        })
    }

    /// API calls made so far (each page of a paginated call counts once; SDK retries are not counted).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// The CloudFormation client (retries, timeouts and TLS as above), for callers that deploy stacks.
    pub fn cloudformation(&self) -> &aws_sdk_cloudformation::Client {
        &self.cloudformation
    }

    fn count(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Parses and evaluates one AWS sentence; an `at most …` sentence is retried.
    pub async fn verify(&self, sentence: &str) -> Result<Verdict, AwsVerifyError> {
        let sentence = parse_sentence(sentence)?;
        if sentence.aws().is_none() {
            return Err(AwsVerifyError::NotAws);
        }
        Ok(self.check(&sentence).await?)
    }

    /// Evaluates a parsed AWS sentence. AWS has no watch, so `at most N times every Ds` polls: N
    /// evaluations, D apart, and no sleep after the last. An error on the last attempt is the result.
    pub async fn check(&self, sentence: &Sentence) -> Result<Verdict, AwsError> {
        let Some(assertion) = sentence.aws() else {
            return Err(AwsError { action: "evaluate".into(), message: "not an AWS sentence".into() });
        };
        let (attempts, interval) = sentence.retry.map_or((1, Duration::ZERO), |r| (r.attempts, r.interval));
        let mut last = None;
        for attempt in 1..=attempts {
            let result = self.evaluate(assertion).await;
            if matches!(&result, Ok(v) if v.passed) || attempt == attempts {
                return result;
            }
            last = Some(result);
            tokio::time::sleep(interval).await;
        }
        last.unwrap_or_else(|| Err(AwsError { action: "evaluate".into(), message: "no attempt made".into() }))
    }

    /// Fetches what `assertion` needs and judges it, once.
    pub async fn evaluate(&self, assertion: &AwsAssertion) -> Result<Verdict, AwsError> {
        self.fetch_and_judge(assertion).await.map_err(|e| self.explain(e))
    }

    /// Adds what the user can check to errors whose cause is not obvious from the transport's words.
    fn explain(&self, mut e: AwsError) -> AwsError {
        if !self.endpoint_override && e.message.contains("dns error") {
            e.message = format!(
                "{} (AWS's endpoint for region '{}' does not resolve: check the region name and the network)",
                e.message, self.region
            );
        }
        e
    }

    async fn fetch_and_judge(&self, assertion: &AwsAssertion) -> Result<Verdict, AwsError> {
        Ok(match assertion {
            AwsAssertion::Account { id } => judge::account(&self.account().await?, &id.value),
            AwsAssertion::Exists { resource } => match resource.kind {
                NetworkKind::Vpc => judge::vpc_exists(resource, &self.find_vpcs(resource).await?),
                NetworkKind::Subnet => judge::subnet_exists(resource, &self.find_subnets(resource).await?),
            },
            AwsAssertion::Tag { resource, key, expect } => {
                let found: Vec<(String, BTreeMap<String, String>)> = match resource.kind {
                    NetworkKind::Vpc => {
                        self.find_vpcs(resource).await?.iter().map(|v| (v.id.clone(), v.tags.clone())).collect()
                    }
                    NetworkKind::Subnet => {
                        self.find_subnets(resource).await?.iter().map(|s| (s.id.clone(), s.tags.clone())).collect()
                    }
                };
                judge::tag(resource, &found, &key.value, expect)
            }
            AwsAssertion::DhcpDomainName { vpc, expect } => {
                let dhcp = self.dhcp_of(vpc).await?;
                judge::dhcp_domain_name(vpc, dhcp.as_ref(), expect)
            }
            AwsAssertion::DhcpNameServers { vpc, contains } => {
                let dhcp = self.dhcp_of(vpc).await?;
                judge::dhcp_name_servers(vpc, dhcp.as_ref(), &contains.value)
            }
            AwsAssertion::AvailabilityZones { vpc, at_least } => {
                let vpcs = self.find_vpcs(vpc).await?;
                let subnets = match vpcs.first() {
                    Some(v) => self.subnets(Query::Filter("vpc-id".into(), v.id.clone())).await?,
                    None => Arc::new(Vec::new()),
                };
                judge::availability_zones(vpc, vpcs.first(), &subnets, *at_least)
            }
            AwsAssertion::FreeIps { subnet, count } => {
                judge::free_ips(&subnet.to_string(), &self.find_subnets(subnet).await?, *count, false)
            }
            AwsAssertion::EveryTaggedSubnetFreeIps { key, value, count } => {
                let subnets = self.subnets(Query::Filter(format!("tag:{}", key.value), value.value.clone())).await?;
                judge::free_ips(&format!("subnets tagged '{}={}'", key.value, value.value), &subnets, *count, true)
            }
            AwsAssertion::Export { name, expect } => {
                let exports = self.exports().await?;
                judge::export(&name.value, exports.get(&name.value).map(String::as_str), expect.as_ref())
            }
            AwsAssertion::Stack { name, check } => {
                judge::stack(&name.value, self.stack(&name.value).await?.as_ref().as_ref(), check)
            }
            AwsAssertion::Parameter { name, check } => {
                judge::parameter(&name.value, self.parameter(&name.value).await?.as_ref().as_ref(), check)
            }
        })
    }

    async fn account(&self) -> Shared<String> {
        let client = self.sts.clone();
        let calls = self.calls.clone();
        self.account
            .run((), move || {
                async move {
                    calls.fetch_add(1, Ordering::Relaxed);
                    let out =
                        client.get_caller_identity().send().await.map_err(|e| error("sts:GetCallerIdentity", &e))?;
                    Ok(Arc::new(out.account().unwrap_or_default().to_owned()))
                }
                .boxed()
            })
            .await
    }

    /// Every CloudFormation export of the region, by name.
    async fn exports(&self) -> Shared<BTreeMap<String, String>> {
        let client = self.cloudformation.clone();
        let calls = self.calls.clone();
        self.exports
            .run((), move || {
                async move {
                    let mut exports = BTreeMap::new();
                    let mut pages = client.list_exports().into_paginator().send();
                    while let Some(page) = pages.next().await {
                        calls.fetch_add(1, Ordering::Relaxed);
                        let page = page.map_err(|e| error("cloudformation:ListExports", &e))?;
                        for export in page.exports() {
                            if let (Some(name), Some(value)) = (export.name(), export.value()) {
                                exports.insert(name.to_owned(), value.to_owned());
                            }
                        }
                    }
                    Ok(Arc::new(exports))
                }
                .boxed()
            })
            .await
    }

    /// The id a network reference names: the id itself, or an export's value. `None` for `named`.
    async fn id_of(&self, reference: &NetworkRef) -> Result<Option<Query>, AwsError> {
        Ok(Some(match &reference.lookup {
            Lookup::Id(id) => Query::Ids(vec![id.value.clone()]),
            Lookup::Named(name) => Query::Filter("tag:Name".into(), name.value.clone()),
            Lookup::Exported(export) => match self.exports().await?.get(&export.value) {
                Some(id) => Query::Ids(vec![id.clone()]),
                None => return Ok(None),
            },
        }))
    }

    async fn find_subnets(&self, reference: &NetworkRef) -> Shared<Vec<Subnet>> {
        match self.id_of(reference).await? {
            Some(query) => self.subnets(query).await,
            None => Ok(Arc::new(Vec::new())),
        }
    }

    async fn find_vpcs(&self, reference: &NetworkRef) -> Shared<Vec<Vpc>> {
        match self.id_of(reference).await? {
            Some(query) => self.vpcs(query).await,
            None => Ok(Arc::new(Vec::new())),
        }
    }

    async fn subnets(&self, query: Query) -> Shared<Vec<Subnet>> {
        let client = self.ec2.clone();
        let calls = self.calls.clone();
        self.subnets
            .run(query.key(), move || {
                async move {
                    let mut request = client.describe_subnets();
                    request = match &query {
                        Query::Ids(ids) => request.set_subnet_ids(Some(ids.clone())),
                        Query::Filter(name, value) => request.filters(Query::filter(name, value)),
                    };
                    let mut pages = request.into_paginator().send();
                    let mut subnets = Vec::new();
                    while let Some(page) = pages.next().await {
                        calls.fetch_add(1, Ordering::Relaxed);
                        let page = match page {
                            Ok(page) => page,
                            Err(e) if is_not_found(&e) => break,
                            Err(e) => return Err(error("ec2:DescribeSubnets", &e)),
                        };
                        subnets.extend(page.subnets().iter().map(|s| Subnet {
                            id: s.subnet_id().unwrap_or_default().to_owned(),
                            vpc_id: s.vpc_id().unwrap_or_default().to_owned(),
                            availability_zone: s.availability_zone().unwrap_or_default().to_owned(),
                            free_ips: i64::from(s.available_ip_address_count().unwrap_or_default()),
                            tags: tags(s.tags()),
                        }));
                    }
                    Ok(Arc::new(subnets))
                }
                .boxed()
            })
            .await
    }

    async fn vpcs(&self, query: Query) -> Shared<Vec<Vpc>> {
        let client = self.ec2.clone();
        let calls = self.calls.clone();
        self.vpcs
            .run(query.key(), move || {
                async move {
                    let mut request = client.describe_vpcs();
                    request = match &query {
                        Query::Ids(ids) => request.set_vpc_ids(Some(ids.clone())),
                        Query::Filter(name, value) => request.filters(Query::filter(name, value)),
                    };
                    let mut pages = request.into_paginator().send();
                    let mut vpcs = Vec::new();
                    while let Some(page) = pages.next().await {
                        calls.fetch_add(1, Ordering::Relaxed);
                        let page = match page {
                            Ok(page) => page,
                            Err(e) if is_not_found(&e) => break,
                            Err(e) => return Err(error("ec2:DescribeVpcs", &e)),
                        };
                        vpcs.extend(page.vpcs().iter().map(|v| Vpc {
                            id: v.vpc_id().unwrap_or_default().to_owned(),
                            dhcp_options_id: v.dhcp_options_id().map(str::to_owned),
                            tags: tags(v.tags()),
                        }));
                    }
                    Ok(Arc::new(vpcs))
                }
                .boxed()
            })
            .await
    }

    /// The DHCP options of the (first) VPC a reference names; `None` when there is no such VPC or it has
    /// the `default` options set.
    async fn dhcp_of(&self, vpc: &NetworkRef) -> Result<Option<Dhcp>, AwsError> {
        let vpcs = self.find_vpcs(vpc).await?;
        let Some(id) = vpcs.first().and_then(|v| v.dhcp_options_id.clone()).filter(|id| id != "default") else {
            return Ok(None);
        };
        self.count();
        let out = match self.ec2.describe_dhcp_options().dhcp_options_ids(&id).send().await {
            Ok(out) => out,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(error("ec2:DescribeDhcpOptions", &e)),
        };
        let mut dhcp = Dhcp { id, ..Dhcp::default() };
        for config in out.dhcp_options().iter().flat_map(|o| o.dhcp_configurations()) {
            let values = config.values().iter().filter_map(|v| v.value().map(str::to_owned));
            match config.key() {
                Some("domain-name") => dhcp.domain_names.extend(values),
                Some("domain-name-servers") => dhcp.name_servers.extend(values),
                _ => {}
            }
        }
        Ok(Some(dhcp))
    }

    async fn stack(&self, name: &str) -> Shared<Option<Stack>> {
        let client = self.cloudformation.clone();
        let calls = self.calls.clone();
        let name = name.to_owned();
        self.stacks
            .run(name.clone(), move || {
                async move {
                    calls.fetch_add(1, Ordering::Relaxed);
                    let out = match client.describe_stacks().stack_name(&name).send().await {
                        Ok(out) => out,
                        Err(e) if is_not_found(&e) => return Ok(Arc::new(None)),
                        Err(e) => return Err(error("cloudformation:DescribeStacks", &e)),
                    };
                    Ok(Arc::new(out.stacks().first().map(|s| {
                        Stack {
                            status: s.stack_status().map(|st| st.as_str().to_owned()).unwrap_or_default(),
                            outputs: s
                                .outputs()
                                .iter()
                                .filter_map(|o| {
                                    Some((o.output_key()?.to_owned(), o.output_value().unwrap_or_default().to_owned()))
                                })
                                .collect(),
                        }
                    })))
                }
                .boxed()
            })
            .await
    }

    async fn parameter(&self, name: &str) -> Shared<Option<Parameter>> {
        let client = self.ssm.clone();
        let calls = self.calls.clone();
        let name = name.to_owned();
        self.parameters
            .run(name.clone(), move || {
                async move {
                    calls.fetch_add(1, Ordering::Relaxed);
                    let out = match client.get_parameter().name(&name).with_decryption(true).send().await {
                        Ok(out) => out,
                        Err(e) if is_not_found(&e) => return Ok(Arc::new(None)),
                        Err(e) => return Err(error("ssm:GetParameter", &e)),
                    };
                    Ok(Arc::new(out.parameter().map(|p| Parameter {
                        kind: p.r#type().map(|t| t.as_str().to_owned()).unwrap_or_default(),
                        value: p.value().unwrap_or_default().to_owned(),
                    })))
                }
                .boxed()
            })
            .await
    }
}

/// Connects to AWS on first use and shares the connection with every test of a run.
#[derive(Debug, Default)]
pub struct AwsConnector {
    options: AwsOptions,
    aws: tokio::sync::OnceCell<Result<Arc<Aws>, AwsError>>,
}

impl AwsConnector {
    /// A connector that will use `options`.
    pub fn new(options: AwsOptions) -> Self {
        Self { options, aws: tokio::sync::OnceCell::new() }
    }

    /// The options it connects with.
    pub fn options(&self) -> &AwsOptions {
        &self.options
    }

    /// The shared connection.
    pub async fn get(&self) -> Result<Arc<Aws>, AwsError> {
        self.aws.get_or_init(|| async { Aws::connect(&self.options).await.map(Arc::new) }).await.clone()
    }

    /// API calls made so far (0 when never connected).
    pub fn calls(&self) -> u64 {
        self.aws.get().and_then(|r| r.as_ref().ok()).map_or(0, |aws| aws.calls())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_types::body::SdkBody;

    fn response(status: u16, body: &str) -> HttpResponse {
        HttpResponse::new(status.try_into().unwrap(), SdkBody::from(body.to_owned()))
    }

    #[test]
    fn an_unreadable_error_answer_shows_its_status_and_start() {
        let xml = "<ErrorResponse>\n  <Error><Code>AccessDenied</Code><Message>not authorized</Message></Error>";
        let said = unreadable(&response(403, xml), "malformed JSON error body");
        assert_eq!(
            said,
            "HTTP 403: <ErrorResponse> <Error><Code>AccessDenied</Code><Message>not authorized</Message></Error> \
             (malformed JSON error body)"
        );
        let long = unreadable(&response(502, &"x".repeat(5_000)), "why");
        assert!(long.len() < MAX_SHOWN_BODY + 40 && long.contains('…'), "{long}");
    }

    #[test]
    fn an_unreadable_successful_answer_never_shows_its_body() {
        let said = unreadable(&response(200, r#"{"Parameter":{"Value":"s3cr3t-canary"#), "unexpected end");
        assert_eq!(said, "HTTP 200 (unexpected end)");
    }

    #[test]
    fn causes_are_each_said_once() {
        let io = std::io::Error::other("Name or service not known");
        #[derive(Debug, thiserror::Error)]
        #[error("dns error: {0}")]
        struct Dns(#[source] std::io::Error);
        #[derive(Debug, thiserror::Error)]
        #[error("dispatch failure")]
        struct Dispatch(#[source] Dns);
        assert_eq!(
            causes(&Dispatch(Dns(io))),
            "dispatch failure: dns error: Name or service not known",
            "the io error's words are already in the dns error's"
        );
    }
}
