//! A Kubernetes API fixture server for the extractor tests and the scale bench.
//!
//! Speaks the real API's JSON on 127.0.0.1 (random port): discovery (`/version`, `/api`,
//! `/apis`, `/api/v1`), `PodList`/`NodeList` with `limit`/`continue` pagination
//! (`metadata.continue`, `metadata.resourceVersion`, `remainingItemCount`), namespace paths and
//! equality label selectors, bearer-token checks, and injectable faults: an expired continue
//! token (410 Gone with a real `Status`), 429 and 500. Items are raw JSON text, so a test can
//! serve a malformed object exactly as written; large lists are generated on demand so the
//! server holds no more than one page. Every request is recorded.
#![allow(dead_code, clippy::missing_panics_doc)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// `metadata.resourceVersion` of every list the fixture serves.
pub const LIST_RESOURCE_VERSION: &str = "4711";

/// The objects behind one collection.
#[derive(Clone)]
pub enum Items {
    /// Raw JSON text of each item, served verbatim.
    Raw(Vec<String>),
    /// `count` items produced by `make(index)` on demand, with the namespace of each item
    /// given by `namespace(index)`.
    Generated {
        /// Number of items.
        count: usize,
        /// Item generator.
        make: fn(usize) -> String,
    },
}

impl Items {
    fn len(&self) -> usize {
        match self {
            Items::Raw(items) => items.len(),
            Items::Generated { count, .. } => *count,
        }
    }

    fn get(&self, index: usize) -> String {
        match self {
            Items::Raw(items) => items[index].clone(),
            Items::Generated { make, .. } => make(index),
        }
    }
}

/// Which request a fault answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultTarget {
    /// A request for `path` whose continue token resumes at item `offset` (0 = first page).
    Page {
        /// Request path (`/api/v1/pods`).
        path: String,
        /// Offset of the page.
        offset: usize,
    },
}

/// An injected error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Where it applies.
    pub target: FaultTarget,
    /// 410, 429 or 500.
    pub status: u16,
    /// How many matching requests it answers before it is used up.
    pub times: u32,
}

/// What the server records of each request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// Path.
    pub path: String,
    /// Decoded query parameters.
    pub query: BTreeMap<String, String>,
    /// `Authorization` header.
    pub authorization: Option<String>,
    /// Status code answered.
    pub status: u16,
}

impl RecordedRequest {
    /// `path?limit=…&continue-offset=…` in a compact form for assertions: the continue token is
    /// shown as the offset it resumes at.
    pub fn summary(&self) -> String {
        let mut parts = vec![self.path.clone()];
        for (key, value) in &self.query {
            let shown = if key == "continue" {
                decode_token(value)
                    .map_or_else(|| format!("continue=?{value}"), |o| format!("continue@{o}"))
            } else {
                format!("{key}={value}")
            };
            parts.push(shown);
        }
        format!("{} -> {}", parts.join(" "), self.status)
    }
}

/// The served cluster.
pub struct Fixture {
    /// Pods (all namespaces).
    pub pods: Items,
    /// Nodes.
    pub nodes: Items,
    /// Required bearer token; `None` accepts any request.
    pub token: Option<String>,
    /// Faults, consumed in order of matching.
    pub faults: Vec<Fault>,
}

struct State {
    fixture: Fixture,
    faults: Mutex<Vec<Fault>>,
    requests: Mutex<Vec<RecordedRequest>>,
}

/// A running fixture server; stops when dropped.
pub struct FixtureServer {
    /// Bound address.
    pub addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FixtureServer {
    /// Starts serving `fixture` on 127.0.0.1 at a free port.
    pub async fn start(fixture: Fixture) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("addr");
        let faults = Mutex::new(fixture.faults.clone());
        let state = Arc::new(State {
            fixture,
            faults,
            requests: Mutex::new(Vec::new()),
        });
        let serving = Arc::clone(&state);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = Arc::clone(&serving);
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, std::convert::Infallible>(handle(&state, &request)) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, state, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests.lock().expect("lock").clone()
    }

    /// Requests for list paths only (no discovery), summarized.
    pub fn list_requests(&self) -> Vec<String> {
        self.requests()
            .iter()
            .filter(|r| r.path.ends_with("/pods") || r.path.ends_with("/nodes"))
            .map(RecordedRequest::summary)
            .collect()
    }

    /// Writes a kubeconfig for this server with a bearer token and returns its path.
    pub fn write_kubeconfig(&self, dir: &std::path::Path, token: &str) -> std::path::PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fixture\n  cluster:\n    server: {url}\n\
             contexts:\n- name: fixture-ctx\n  context:\n    cluster: fixture\n    user: reader\n    namespace: default\n\
             current-context: fixture-ctx\nusers:\n- name: reader\n  user:\n    token: {token}\n",
            url = self.url()
        );
        std::fs::write(&path, text).expect("write kubeconfig");
        path
    }
}

/// A continue token like the apiserver's: base64 of `{"v":"meta.k8s.io/v1","rv":…,"start":…}`.
pub fn make_token(offset: usize) -> String {
    STANDARD.encode(
        json!({"v": "meta.k8s.io/v1", "rv": LIST_RESOURCE_VERSION.parse::<u64>().unwrap_or(0), "start": offset})
            .to_string(),
    )
}

/// The offset a token resumes at.
pub fn decode_token(token: &str) -> Option<usize> {
    let bytes = STANDARD.decode(token).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    value.get("start")?.as_u64().map(|o| o as usize)
}

fn query_of(request: &Request<Incoming>) -> BTreeMap<String, String> {
    request
        .uri()
        .query()
        .map(|q| {
            q.split('&')
                .filter(|kv| !kv.is_empty())
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    Some((percent_decode(k)?, percent_decode(v)?))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn status_body(code: u16, reason: &str, message: &str) -> String {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code,
    })
    .to_string()
}

fn respond(code: u16, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() =
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().expect("header"));
    if code == 429 {
        response
            .headers_mut()
            .insert("retry-after", "1".parse().expect("header"));
    }
    response
}

fn handle(state: &State, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let query = query_of(request);
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (code, body) = answer(state, &path, &query, authorization.as_deref());
    state.requests.lock().expect("lock").push(RecordedRequest {
        path,
        query,
        authorization,
        status: code,
    });
    respond(code, body)
}

fn take_fault(state: &State, path: &str, offset: usize) -> Option<u16> {
    let mut faults = state.faults.lock().expect("lock");
    let fault = faults.iter_mut().find(|f| {
        f.times > 0
            && f.target
                == FaultTarget::Page {
                    path: path.to_owned(),
                    offset,
                }
    })?;
    fault.times -= 1;
    Some(fault.status)
}

fn answer(
    state: &State,
    path: &str,
    query: &BTreeMap<String, String>,
    authorization: Option<&str>,
) -> (u16, String) {
    if let Some(token) = &state.fixture.token
        && authorization != Some(format!("Bearer {token}").as_str())
    {
        return (401, status_body(401, "Unauthorized", "Unauthorized"));
    }
    match path {
        "/version" => (200, json!({
            "major": "1", "minor": "33", "gitVersion": "v1.33.5-eks-fixture",
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "2026-10-01T00:00:00Z", "goVersion": "go1.24.6", "compiler": "gc",
            "platform": "linux/amd64"
        }).to_string()),
        "/api" => (200, json!({
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:443"}]
        }).to_string()),
        "/apis" => (200, json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []}).to_string()),
        "/api/v1" => (200, json!({
            "kind": "APIResourceList", "groupVersion": "v1",
            "resources": [
                {"name": "namespaces", "singularName": "namespace", "namespaced": false, "kind": "Namespace",
                 "verbs": ["get", "list"], "shortNames": ["ns"]},
                {"name": "nodes", "singularName": "node", "namespaced": false, "kind": "Node",
                 "verbs": ["get", "list"], "shortNames": ["no"]},
                {"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod",
                 "verbs": ["get", "list"], "shortNames": ["po"], "categories": ["all"]}
            ]
        }).to_string()),
        "/api/v1/pods" => list(state, path, "PodList", &state.fixture.pods, None, query),
        "/api/v1/nodes" => list(state, path, "NodeList", &state.fixture.nodes, None, query),
        _ => {
            let namespace = path
                .strip_prefix("/api/v1/namespaces/")
                .and_then(|rest| rest.strip_suffix("/pods"));
            match namespace {
                Some(ns) => list(state, path, "PodList", &state.fixture.pods, Some(ns), query),
                None => (404, status_body(404, "NotFound", "the server could not find the requested resource")),
            }
        }
    }
}

/// Whether a raw item passes the namespace scope and an equality label selector. Items that are
/// not valid JSON objects pass (the apiserver would never have stored them; we serve them to
/// test the client).
fn matches(raw: &str, namespace: Option<&str>, selector: Option<&str>) -> bool {
    let Ok(value) = serde_json::from_str::<Value>(raw) else {
        return true;
    };
    let metadata = &value["metadata"];
    if let Some(ns) = namespace
        && metadata["namespace"].as_str() != Some(ns)
    {
        return false;
    }
    selector.is_none_or(|selector| {
        selector
            .split(',')
            .filter(|s| !s.is_empty())
            .all(|term| match term.split_once('=') {
                Some((key, wanted)) => metadata["labels"][key].as_str() == Some(wanted),
                None => metadata["labels"].get(term).is_some(),
            })
    })
}

fn list(
    state: &State,
    path: &str,
    kind: &str,
    items: &Items,
    namespace: Option<&str>,
    query: &BTreeMap<String, String>,
) -> (u16, String) {
    let offset = match query.get("continue") {
        None => 0,
        Some(token) => match decode_token(token) {
            Some(offset) => offset,
            None => {
                return (
                    400,
                    status_body(400, "BadRequest", "continue key is not valid"),
                );
            }
        },
    };
    if query.contains_key("continue")
        && query
            .get("resourceVersion")
            .is_some_and(|rv| !rv.is_empty() && rv != "0")
    {
        return (
            400,
            status_body(
                400,
                "BadRequest",
                "specifying resource version is not allowed when using continue",
            ),
        );
    }
    if let Some(code) = take_fault(state, path, offset) {
        return match code {
            410 => (
                410,
                status_body(
                    410,
                    "Expired",
                    "The provided continue parameter is too old to display a consistent list result. \
                 You can start a new list without the continue parameter, or use the continue \
                 token in this response to retrieve the remainder of the results.",
                ),
            ),
            429 => (
                429,
                status_body(
                    429,
                    "TooManyRequests",
                    "Too many requests, please try again later.",
                ),
            ),
            _ => (
                code,
                status_body(
                    code,
                    "InternalError",
                    "Internal error occurred: etcdserver: request timed out",
                ),
            ),
        };
    }
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|&l| l > 0)
        .unwrap_or(usize::MAX);
    let selector = query.get("labelSelector").map(String::as_str);
    let scoped = namespace.is_some() || selector.is_some();
    let mut page = Vec::new();
    let mut index = offset;
    let total = items.len();
    while index < total && page.len() < limit {
        let raw = items.get(index);
        index += 1;
        if !scoped || matches(&raw, namespace, selector) {
            page.push(raw);
        }
    }
    let mut metadata = format!("\"resourceVersion\":\"{LIST_RESOURCE_VERSION}\"");
    if index < total {
        let _ = write!(
            metadata,
            ",\"continue\":\"{}\",\"remainingItemCount\":{}",
            make_token(index),
            total - index
        );
    }
    let body = format!(
        "{{\"kind\":\"{kind}\",\"apiVersion\":\"v1\",\"metadata\":{{{metadata}}},\"items\":[{}]}}",
        page.join(",")
    );
    (200, body)
}
