//! The trigger API: an HTTP endpoint per pipeline and per stage, fed by a JSON object of parameters, as the
//! operators' Argo Events sensors call them — and a status endpoint per run.
//!
//! | request | answer |
//! | --- | --- |
//! | `POST /pipeline` with `{"CLUSTER": "prod-eu-1"}` | `202` `{"run": ID, "status": "/runs/ID"}`; the run goes on |
//! | `POST /stages/STAGE` with parameters | the same, for one stage |
//! | `GET /runs/ID` | `200` with the run record |
//! | `GET /runs` | `200` with every run's id and status |
//! | `GET /healthz` | `200 ok` (no token needed) |
//!
//! Every other request needs `Authorization: Bearer TOKEN`; a missing or wrong token is `401`, compared in
//! time that does not depend on where the given token differs. Unknown or ill-typed parameters, malformed
//! JSON and bodies over [`MAX_BODY`] are `4xx` with the reason. Parameter values only ever become values
//! (environment variables, single arguments): never shell text.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use crate::executor::{ExecOptions, Observer};
use crate::plan::Pipeline;
use crate::record::Store;
use crate::run::{Prepared, RunError};

/// The largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;

/// The shortest token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

/// The environment variable that may hold the token; no started program sees it
/// ([`precheck::command::WITHHELD_VARIABLES`]).
pub const TOKEN_VARIABLE: &str = precheck::command::TRIGGER_TOKEN_VARIABLE;

/// Connections served at once; more wait to be accepted.
pub const MAX_CONNECTIONS: usize = 256;

/// The longest a request's body may take to arrive.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A bearer token; never printed.
#[derive(Clone)]
pub struct Token(Vec<u8>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// A token from its text (surrounding blanks removed); refused when shorter than [`MIN_TOKEN_LEN`].
    pub fn new(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.len() < MIN_TOKEN_LEN {
            return Err(format!("the trigger token must have at least {MIN_TOKEN_LEN} characters"));
        }
        Ok(Self(text.as_bytes().to_vec()))
    }

    /// Whether `given` is the token. The time taken depends on the lengths only, not on where the bytes
    /// differ, so the token cannot be guessed byte by byte from answer times.
    pub fn matches(&self, given: &[u8]) -> bool {
        let mut difference = self.0.len() ^ given.len();
        for i in 0..self.0.len().max(given.len()) {
            let a = self.0.get(i).copied().unwrap_or(0);
            let b = given.get(i).copied().unwrap_or(0xff);
            difference |= usize::from(a ^ b);
        }
        std::hint::black_box(difference) == 0
    }
}

/// What the server needs.
pub struct Trigger {
    /// The pipeline it starts.
    pub pipeline: Arc<Pipeline>,
    /// Where runs are recorded.
    pub store: Store,
    /// The bearer token.
    pub token: Token,
    /// How steps run.
    pub options: ExecOptions,
    /// Told about every run's transitions.
    pub observer: Arc<dyn Observer>,
}

type Answer = Response<Full<Bytes>>;

fn json(status: StatusCode, value: &serde_json::Value) -> Answer {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(value.to_string())))
        .expect("a valid response")
}

fn error(status: StatusCode, message: impl Into<String>) -> Answer {
    json(status, &serde_json::json!({ "error": message.into() }))
}

impl Trigger {
    /// Serves requests on `listener` until `shutdown` completes. Runs started go on in the background.
    pub async fn serve(
        self: Arc<Self>,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> std::io::Result<()> {
        tokio::pin!(shutdown);
        let connections = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        loop {
            let Ok(place) = connections.clone().acquire_owned().await else { return Ok(()) };
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else {
                        // Out of file descriptors or a connection reset before accept: do not spin.
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        continue;
                    };
                    let trigger = self.clone();
                    tokio::spawn(async move {
                        let _place = place;
                        let service = hyper::service::service_fn(move |request| {
                            let trigger = trigger.clone();
                            async move { Ok::<_, Infallible>(trigger.answer(request).await) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .timer(hyper_util::rt::TokioTimer::new())
                            .header_read_timeout(std::time::Duration::from_secs(10))
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            }
        }
    }

    /// Answers one request.
    pub async fn answer(&self, request: Request<Incoming>) -> Answer {
        let path = request.uri().path().to_owned();
        let method = request.method().clone();
        if method == Method::GET && path == "/healthz" {
            return Response::new(Full::new(Bytes::from_static(b"ok\n")));
        }
        let given = request
            .headers()
            .get("authorization")
            .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
            .unwrap_or_default();
        if !self.token.matches(given) {
            let mut answer = error(StatusCode::UNAUTHORIZED, "a valid `Authorization: Bearer TOKEN` is needed");
            answer.headers_mut().insert("www-authenticate", hyper::header::HeaderValue::from_static("Bearer"));
            return answer;
        }
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (method, segments.as_slice()) {
            (Method::POST, ["pipeline"]) => self.start(request, None).await,
            (Method::POST, ["stages", stage]) => {
                let stage = (*stage).to_owned();
                if self.pipeline.stage(&stage).is_none() {
                    return error(StatusCode::NOT_FOUND, format!("no stage named '{stage}'"));
                }
                self.start(request, Some(stage)).await
            }
            (Method::GET, ["runs"]) => self.runs(),
            (Method::GET, ["runs", id]) => match self.store.open(id).and_then(|run| Ok((run.read()?, run))) {
                Ok((record, run)) => json(StatusCode::OK, &record.to_json(run.state(&record))),
                // Not the error itself: it names the state directory.
                Err(_) => error(StatusCode::NOT_FOUND, format!("no run '{id}'")),
            },
            (_, ["pipeline"] | ["stages", _] | ["runs"] | ["runs", _]) => {
                error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here")
            }
            _ => error(StatusCode::NOT_FOUND, format!("no endpoint {path}")),
        }
    }

    fn runs(&self) -> Answer {
        let runs: Vec<serde_json::Value> = self
            .store
            .list()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|id| {
                let run = self.store.open(&id).ok()?;
                let record = run.read().ok()?;
                let status = run.state(&record).as_str();
                Some(serde_json::json!({ "run": id, "status": status, "stage": record.stage }))
            })
            .collect();
        json(StatusCode::OK, &serde_json::json!({ "runs": runs }))
    }

    async fn start(&self, request: Request<Incoming>, stage: Option<String>) -> Answer {
        let declared =
            request.headers().get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > MAX_BODY) {
            return error(StatusCode::PAYLOAD_TOO_LARGE, format!("the body is over {MAX_BODY} bytes"));
        }
        let body = match tokio::time::timeout(BODY_TIMEOUT, Limited::new(request.into_body(), MAX_BODY).collect()).await
        {
            Ok(Ok(body)) => body.to_bytes(),
            Ok(Err(_)) => return error(StatusCode::PAYLOAD_TOO_LARGE, format!("the body is over {MAX_BODY} bytes")),
            Err(_) => return error(StatusCode::REQUEST_TIMEOUT, "the body did not arrive in time"),
        };
        let payload: serde_json::Value = if body.iter().all(u8::is_ascii_whitespace) {
            serde_json::json!({})
        } else {
            match serde_json::from_slice(&body) {
                Ok(v) => v,
                Err(e) => return error(StatusCode::BAD_REQUEST, format!("the body is not JSON: {e}")),
            }
        };
        // A secret parameter the payload does not give comes from the server's environment variable of its
        // name: callers need not hold the secret.
        let mut payload = payload;
        if let Some(object) = payload.as_object_mut() {
            for name in self.pipeline.secret_names() {
                if !object.contains_key(name)
                    && let Ok(value) = std::env::var(name)
                {
                    object.insert(name.to_owned(), serde_json::Value::String(value));
                }
            }
        }
        let values = match self.pipeline.values_from_json(&payload) {
            Ok(v) => v,
            Err(e) => {
                return json(
                    StatusCode::BAD_REQUEST,
                    &serde_json::json!({ "error": "invalid parameters", "problems": e.problems }),
                );
            }
        };
        let prepared = match Prepared::new(self.pipeline.clone(), &values, stage.as_deref(), &self.store) {
            Ok(p) => p,
            Err(e @ (RunError::Bind(_) | RunError::Values(_))) => return error(StatusCode::BAD_REQUEST, e.to_string()),
            Err(e) => {
                eprintln!("trigger: cannot start a run: {e}");
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the run could not be recorded (see the server's log)",
                );
            }
        };
        let id = prepared.id().to_owned();
        let observer = self.observer.clone();
        let options = self.options.clone();
        tokio::spawn(async move {
            let _ = prepared.execute(observer, options).await;
        });
        json(StatusCode::ACCEPTED, &serde_json::json!({ "run": id, "status": format!("/runs/{id}") }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_compared_whole_and_never_printed() {
        assert!(Token::new("short").is_err());
        let token = Token::new("  s3cret-token-0123456789  ").unwrap();
        assert!(token.matches(b"s3cret-token-0123456789"));
        assert!(!token.matches(b"s3cret-token-012345678"));
        assert!(!token.matches(b"s3cret-token-01234567890"));
        assert!(!token.matches(b"x3cret-token-0123456789"));
        assert!(!token.matches(b""));
        assert!(!format!("{token:?}").contains("s3cret"));
    }
}
