//! Listing pods and nodes from the Kubernetes API with the least load on the API server.
//!
//! Pages of [`DEFAULT_PAGE_SIZE`] with `continue` tokens and no `resourceVersion` (the client-go
//! pager's behaviour, aws-facts §10); an expired token (410 Gone) restarts the list from scratch
//! (bounded); 429 and 5xx answers and dropped connections are retried with capped exponential
//! backoff (bounded). Each page is read as raw JSON and its items are decoded one by one into
//! only the fields the snapshot needs, so one malformed object is skipped and counted, never
//! fatal, and a page of 500 full pods is never held as a tree of every field.
//!
//! This module does not interpret objects: turning them into a snapshot is `build`'s job.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, HostIP, Node, NodeAddress, NodeSpec, NodeStatus, Pod, PodIP, PodSpec,
    PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, ObjectMeta, OwnerReference, Time};
use kube::core::params::ListParams;
use serde::Deserialize;
use serde_json::value::RawValue;

/// Items per page: the EKS best-practice example for large clusters (aws-facts §10).
pub const DEFAULT_PAGE_SIZE: u32 = 500;
/// Retries of one page on 429/5xx/connection errors before the run fails.
pub const DEFAULT_MAX_RETRIES: u32 = 5;
/// First backoff delay; doubled per retry (client-go's default rate-limit backoff starts here).
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(250);
/// Cap of one backoff delay: 250 ms doubled 5 times stays under 8 s, so a run waits < 16 s.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(8);
/// Full restarts after 410 Gone before giving up: a token only expires after minutes, so more
/// than this means the list cannot finish inside one compaction window.
pub const DEFAULT_MAX_RESTARTS: u32 = 3;
/// Decode failures logged individually per list; the rest are only counted.
const LOGGED_DECODE_FAILURES: usize = 20;

/// How to list: page size, selectors and retry bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOptions {
    /// `limit` of each page.
    pub page_size: u32,
    /// Label selector applied to pods (nodes are always listed whole).
    pub label_selector: Option<String>,
    /// Retries per page on 429/5xx.
    pub max_retries: u32,
    /// First backoff delay.
    pub initial_backoff: Duration,
    /// Largest backoff delay.
    pub max_backoff: Duration,
    /// Restarts after 410 Gone.
    pub max_restarts: u32,
}

impl Default for ListOptions {
    fn default() -> Self {
        Self {
            page_size: DEFAULT_PAGE_SIZE,
            label_selector: None,
            max_retries: DEFAULT_MAX_RETRIES,
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            max_restarts: DEFAULT_MAX_RESTARTS,
        }
    }
}

/// An object skipped because its JSON did not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeFailure {
    /// `Pod` or `Node`.
    pub kind: &'static str,
    /// `namespace/name` or `name` when readable, else `#<index in page>`.
    pub object: String,
    /// The decoder's message (field path and reason).
    pub reason: String,
}

/// Counters of one or more lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListStats {
    /// Pages received (including pages discarded by a restart).
    pub pages: u32,
    /// Retried requests (429/5xx/connection).
    pub retries: u32,
    /// Restarts after 410 Gone.
    pub restarts: u32,
    /// Objects skipped because they did not decode.
    pub decode_failures: Vec<DecodeFailure>,
}

/// A list that could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The API answered with an error that is not retried, or retries ran out.
    #[error("GET {path} failed after {attempts} attempt(s): {detail}")]
    Request {
        /// Request path and query.
        path: String,
        /// Attempts made.
        attempts: u32,
        /// The API status or transport error.
        detail: String,
    },
    /// Continue tokens kept expiring.
    #[error("listing {path} restarted {restarts} times after 410 Gone; giving up")]
    TooManyRestarts {
        /// Listed path.
        path: String,
        /// Restarts made.
        restarts: u32,
    },
    /// A page was not a Kubernetes list.
    #[error("GET {path} returned a body that is not a list: {source}")]
    Page {
        /// Request path and query.
        path: String,
        /// JSON error.
        #[source]
        source: serde_json::Error,
    },
}

/// Why one object did not decode, with the path of the offending field.
pub type DecodeError = serde_path_to_error::Error<serde_json::Error>;

fn decode_with_path<'de, T: Deserialize<'de>>(raw: &'de str) -> Result<T, DecodeError> {
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(raw))
}

#[derive(Deserialize)]
struct RawPage<'a> {
    #[serde(default)]
    metadata: ListMeta,
    #[serde(borrow, default)]
    items: Option<Vec<&'a RawValue>>,
}

enum Attempt {
    Page(String),
    Expired,
}

fn is_retryable(err: &kube::Error) -> bool {
    match err {
        kube::Error::Api(status) => status.code == 429 || status.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

fn backoff_delay(options: &ListOptions, retry: u32) -> Duration {
    options
        .initial_backoff
        .saturating_mul(2u32.saturating_pow(retry))
        .min(options.max_backoff)
}

/// GET one page, retrying 429/5xx with backoff; a 410 Gone is reported, not retried.
async fn get_page(
    client: &kube::Client,
    path: &str,
    params: &ListParams,
    options: &ListOptions,
    stats: &mut ListStats,
) -> Result<Attempt, ListError> {
    let request_error = |attempts: u32, detail: String| ListError::Request {
        path: path.to_owned(),
        attempts,
        detail,
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let request = kube::core::Request::new(path)
            .list(params)
            .map_err(|e| request_error(attempt, e.to_string()))?;
        match client.request_text(request).await {
            Ok(text) => return Ok(Attempt::Page(text)),
            Err(kube::Error::Api(status)) if status.code == 410 => return Ok(Attempt::Expired),
            Err(err) if is_retryable(&err) && attempt <= options.max_retries => {
                let delay = backoff_delay(options, attempt - 1);
                tracing::warn!(path, attempt, ?delay, error = %err, "retrying list page");
                stats.retries += 1;
                tokio::time::sleep(delay).await;
            }
            Err(err) => return Err(request_error(attempt, err.to_string())),
        }
    }
}

/// Lists every object under `path`, decoding items with `decode` (failures are counted in
/// `stats` under `kind`) and handing each page's objects to `on_page`; returns the results of
/// `on_page` in page order. A restart after 410 Gone discards the results of the abandoned pass.
#[allow(clippy::too_many_arguments)]
async fn list_all<T, P>(
    client: &kube::Client,
    path: &str,
    kind: &'static str,
    label_selector: Option<&str>,
    options: &ListOptions,
    stats: &mut ListStats,
    decode: impl Fn(&str) -> Result<T, DecodeError>,
    on_page: &mut impl FnMut(Vec<T>) -> P,
) -> Result<Vec<P>, ListError> {
    let mut restarts = 0;
    'restart: loop {
        let mut pages = Vec::new();
        let failures_before = stats.decode_failures.len();
        let mut params = ListParams {
            limit: Some(options.page_size),
            label_selector: label_selector.map(str::to_owned),
            ..ListParams::default()
        };
        loop {
            let text = match get_page(client, path, &params, options, stats).await? {
                Attempt::Page(text) => text,
                Attempt::Expired => {
                    if restarts >= options.max_restarts {
                        return Err(ListError::TooManyRestarts {
                            path: path.to_owned(),
                            restarts,
                        });
                    }
                    restarts += 1;
                    stats.restarts += 1;
                    // Objects of the abandoned pass would be counted twice.
                    stats.decode_failures.truncate(failures_before);
                    tracing::warn!(
                        path,
                        restarts,
                        "continue token expired (410 Gone); restarting list"
                    );
                    continue 'restart;
                }
            };
            stats.pages += 1;
            let page: RawPage = serde_json::from_str(&text).map_err(|source| ListError::Page {
                path: path.to_owned(),
                source,
            })?;
            let items = page.items.unwrap_or_default();
            let mut objects = Vec::with_capacity(items.len());
            for (index, item) in items.into_iter().enumerate() {
                match decode(item.get()) {
                    Ok(object) => objects.push(object),
                    Err(err) => {
                        let failure = DecodeFailure {
                            kind,
                            object: object_name(item.get()).unwrap_or_else(|| format!("#{index}")),
                            reason: err.to_string(),
                        };
                        if stats.decode_failures.len() < LOGGED_DECODE_FAILURES {
                            tracing::warn!(kind, object = %failure.object, reason = %failure.reason, "skipping object that does not decode");
                        }
                        stats.decode_failures.push(failure);
                    }
                }
            }
            pages.push(on_page(objects));
            match page.metadata.continue_.filter(|token| !token.is_empty()) {
                Some(token) => params.continue_token = Some(token),
                None => return Ok(pages),
            }
        }
    }
}

/// `namespace/name` of a raw object, read leniently for error messages.
fn object_name(raw: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(raw).ok()?;
    let metadata = value.get("metadata")?;
    let name = metadata.get("name")?.as_str()?;
    Some(match metadata.get("namespace").and_then(|n| n.as_str()) {
        Some(namespace) => format!("{namespace}/{name}"),
        None => name.to_owned(),
    })
}

/// Lists pods of every namespace (`namespaces` empty) or of each given namespace, handing each
/// page to `on_page` so a caller can condense it before the next one arrives (a page of full
/// `Pod` values is large; 100,000 of them would not fit a small Lambda).
pub async fn list_pods_by_page<P>(
    client: &kube::Client,
    namespaces: &[String],
    options: &ListOptions,
    stats: &mut ListStats,
    mut on_page: impl FnMut(Vec<Pod>) -> P,
) -> Result<Vec<P>, ListError> {
    let selector = options.label_selector.as_deref();
    if namespaces.is_empty() {
        let path = "/api/v1/pods";
        return list_all(
            client,
            path,
            "Pod",
            selector,
            options,
            stats,
            decode_pod,
            &mut on_page,
        )
        .await;
    }
    let mut pages = Vec::new();
    for namespace in namespaces {
        let path = format!("/api/v1/namespaces/{namespace}/pods");
        pages.extend(
            list_all(
                client,
                &path,
                "Pod",
                selector,
                options,
                stats,
                decode_pod,
                &mut on_page,
            )
            .await?,
        );
    }
    Ok(pages)
}

/// Lists pods of every namespace (`namespaces` empty) or of each given namespace.
pub async fn list_pods(
    client: &kube::Client,
    namespaces: &[String],
    options: &ListOptions,
    stats: &mut ListStats,
) -> Result<Vec<Pod>, ListError> {
    let pages = list_pods_by_page(client, namespaces, options, stats, |page| page).await?;
    Ok(pages.into_iter().flatten().collect())
}

/// Lists every node.
pub async fn list_nodes(
    client: &kube::Client,
    options: &ListOptions,
    stats: &mut ListStats,
) -> Result<Vec<Node>, ListError> {
    let path = "/api/v1/nodes";
    let pages = list_all(
        client,
        path,
        "Node",
        None,
        options,
        stats,
        decode_node,
        &mut |page| page,
    )
    .await?;
    Ok(pages.into_iter().flatten().collect())
}

// The wire shapes below name only what the snapshot reads; serde skips every other field
// without allocating it (managedFields, env, volumes, conditions, images…).

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WireMeta {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    owner_references: Option<Vec<OwnerReference>>,
    creation_timestamp: Option<Time>,
    deletion_timestamp: Option<Time>,
}

impl From<WireMeta> for ObjectMeta {
    fn from(m: WireMeta) -> Self {
        ObjectMeta {
            name: m.name,
            namespace: m.namespace,
            uid: m.uid,
            labels: m.labels,
            owner_references: m.owner_references,
            creation_timestamp: m.creation_timestamp,
            deletion_timestamp: m.deletion_timestamp,
            ..ObjectMeta::default()
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireContainer {
    name: String,
    #[serde(default)]
    ports: Option<Vec<ContainerPort>>,
    #[serde(default)]
    restart_policy: Option<String>,
}

impl From<WireContainer> for Container {
    fn from(c: WireContainer) -> Self {
        Container {
            name: c.name,
            ports: c.ports,
            restart_policy: c.restart_policy,
            ..Container::default()
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WirePodSpec {
    node_name: Option<String>,
    host_network: Option<bool>,
    containers: Vec<WireContainer>,
    init_containers: Option<Vec<WireContainer>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WirePodStatus {
    phase: Option<String>,
    #[serde(rename = "podIP")]
    pod_ip: Option<String>,
    #[serde(rename = "podIPs")]
    pod_ips: Option<Vec<PodIP>>,
    #[serde(rename = "hostIP")]
    host_ip: Option<String>,
    #[serde(rename = "hostIPs")]
    host_ips: Option<Vec<HostIP>>,
    start_time: Option<Time>,
}

#[derive(Deserialize)]
struct WirePod {
    #[serde(default)]
    metadata: WireMeta,
    #[serde(default)]
    spec: Option<WirePodSpec>,
    #[serde(default)]
    status: Option<WirePodStatus>,
}

/// Decodes the fields of a pod the snapshot needs from one raw list item.
pub fn decode_pod(raw: &str) -> Result<Pod, DecodeError> {
    let wire: WirePod = decode_with_path(raw)?;
    Ok(Pod {
        metadata: wire.metadata.into(),
        spec: wire.spec.map(|s| PodSpec {
            node_name: s.node_name,
            host_network: s.host_network,
            containers: s.containers.into_iter().map(Container::from).collect(),
            init_containers: s
                .init_containers
                .map(|c| c.into_iter().map(Container::from).collect()),
            ..PodSpec::default()
        }),
        status: wire.status.map(|s| PodStatus {
            phase: s.phase,
            pod_ip: s.pod_ip,
            pod_ips: s.pod_ips,
            host_ip: s.host_ip,
            host_ips: s.host_ips,
            start_time: s.start_time,
            ..PodStatus::default()
        }),
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WireNodeSpec {
    #[serde(rename = "providerID")]
    provider_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireNodeStatus {
    addresses: Option<Vec<NodeAddress>>,
}

#[derive(Deserialize)]
struct WireNode {
    #[serde(default)]
    metadata: WireMeta,
    #[serde(default)]
    spec: Option<WireNodeSpec>,
    #[serde(default)]
    status: Option<WireNodeStatus>,
}

/// Decodes the fields of a node the snapshot needs from one raw list item.
pub fn decode_node(raw: &str) -> Result<Node, DecodeError> {
    let wire: WireNode = decode_with_path(raw)?;
    Ok(Node {
        metadata: wire.metadata.into(),
        spec: wire.spec.map(|s| NodeSpec {
            provider_id: s.provider_id,
            ..NodeSpec::default()
        }),
        status: wire.status.map(|s| NodeStatus {
            addresses: s.addresses,
            ..NodeStatus::default()
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_pod_keeps_the_snapshot_fields_and_drops_the_rest() {
        let raw = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-7c9d-abcde",
          "namespace":"shop","uid":"u-1","labels":{"app":"web","pod-template-hash":"7c9d"},
          "annotations":{"big":"x"},"managedFields":[{"manager":"kubelet"}],
          "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-7c9d",
          "uid":"rs-1","controller":true}],"creationTimestamp":"2026-11-27T05:00:00Z"},
          "spec":{"nodeName":"n1","hostNetwork":true,"containers":[{"name":"c","image":"nginx",
          "env":[{"name":"A","value":"b"}],"ports":[{"containerPort":80,"protocol":"TCP"}]}]},
          "status":{"phase":"Running","podIP":"10.0.0.5","podIPs":[{"ip":"10.0.0.5"},{"ip":"fd00::5"}],
          "startTime":"2026-11-27T05:00:01Z","conditions":[{"type":"Ready","status":"True"}]}}"#;
        let pod = decode_pod(raw).expect("decodes");
        assert_eq!(pod.metadata.name.as_deref(), Some("web-7c9d-abcde"));
        assert_eq!(pod.metadata.namespace.as_deref(), Some("shop"));
        assert_eq!(pod.metadata.annotations, None);
        assert_eq!(pod.metadata.managed_fields, None);
        let owner = &pod.metadata.owner_references.as_ref().expect("owners")[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str()),
            ("ReplicaSet", "web-7c9d")
        );
        let spec = pod.spec.expect("spec");
        assert_eq!(spec.host_network, Some(true));
        assert_eq!(spec.containers[0].env, None);
        assert_eq!(spec.containers[0].image, None);
        assert_eq!(
            spec.containers[0].ports.as_ref().expect("ports")[0].container_port,
            80
        );
        let status = pod.status.expect("status");
        assert_eq!(status.conditions, None);
        let ips: Vec<&str> = status
            .pod_ips
            .iter()
            .flatten()
            .map(|p| p.ip.as_str())
            .collect();
        assert_eq!(ips, ["10.0.0.5", "fd00::5"]);
        assert_eq!(
            status.start_time.map(|t| t.0.as_second()),
            Some(1_795_755_601)
        );
    }

    #[test]
    fn decode_failures_name_the_field() {
        let cases = [
            (
                r#"{"metadata":{"name":"p"},"spec":{"hostNetwork":"yes","containers":[]}}"#,
                "spec.hostNetwork: invalid type: string \"yes\", expected a boolean",
            ),
            (
                r#"{"metadata":{"name":"p"},"status":{"podIPs":"10.0.0.1"}}"#,
                "status.podIPs: invalid type: string \"10.0.0.1\", expected a sequence",
            ),
            (
                r#"{"metadata":{"name":"p"},"status":{"startTime":"yesterday"}}"#,
                "status.startTime: ",
            ),
            (
                r#"{"metadata":{"name":"p"},"spec":{"containers":[{"name":"a","ports":[{"containerPort":"80"}]}]}}"#,
                "spec.containers[0].ports[0].containerPort: invalid type: string \"80\", expected i32",
            ),
            (
                "[1,2]",
                "[0]: invalid type: integer `1`, expected struct WireMeta",
            ),
        ];
        for (raw, expected) in cases {
            let err = decode_pod(raw).expect_err(raw).to_string();
            assert!(err.starts_with(expected), "{raw}: {err}");
        }
    }

    #[test]
    fn decode_node_reads_provider_and_addresses() {
        let raw = r#"{"metadata":{"name":"ip-10-0-1-1","labels":{"topology.kubernetes.io/zone":"us-east-1a"}},
          "spec":{"providerID":"aws:///us-east-1a/i-0abc"},
          "status":{"addresses":[{"type":"InternalIP","address":"10.0.1.1"}],"images":[{"names":["x"]}]}}"#;
        let node = decode_node(raw).expect("decodes");
        assert_eq!(
            node.spec.and_then(|s| s.provider_id).as_deref(),
            Some("aws:///us-east-1a/i-0abc")
        );
        let addresses = node.status.and_then(|s| s.addresses).expect("addresses");
        assert_eq!(
            (addresses[0].type_.as_str(), addresses[0].address.as_str()),
            ("InternalIP", "10.0.1.1")
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let options = ListOptions::default();
        let delays: Vec<u128> = (0..7)
            .map(|r| backoff_delay(&options, r).as_millis())
            .collect();
        assert_eq!(delays, [250, 500, 1000, 2000, 4000, 8000, 8000]);
    }

    #[test]
    fn object_names_for_messages() {
        assert_eq!(
            object_name(r#"{"metadata":{"name":"a","namespace":"n"}}"#).as_deref(),
            Some("n/a")
        );
        assert_eq!(
            object_name(r#"{"metadata":{"name":"node-1"}}"#).as_deref(),
            Some("node-1")
        );
        assert_eq!(object_name("[]"), None);
    }
}
