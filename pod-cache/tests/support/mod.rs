//! Shared helpers of the extractor integration tests: the Kubernetes API fixture server, the
//! fixture cluster's objects, and a moto S3 server.
#![allow(dead_code)]

pub mod cluster;
pub mod k8s_fixture;
pub mod moto;

use k8s_openapi::api::core::v1::{Node, Pod};
use pod_cache::extract::list::ListOptions;

/// List options for tests: small pages, millisecond backoff.
pub fn fast_list_options(page_size: u32) -> ListOptions {
    ListOptions {
        page_size,
        initial_backoff: std::time::Duration::from_millis(1),
        max_backoff: std::time::Duration::from_millis(4),
        ..ListOptions::default()
    }
}

/// A kube client for a fixture server from an in-memory config (plain HTTP, no auth), with
/// kube-rs's own retry layer off like the extractor's clients.
pub fn plain_client(url: &str) -> kube::Client {
    let mut config = kube::Config::new(url.parse().expect("url"));
    config.default_retry = false;
    pod_cache::extract::install_crypto_provider();
    kube::Client::try_from(config).expect("client")
}

/// Full k8s-openapi decoding of raw items, skipping those that do not decode: the reference the
/// extractor's slim decoding is compared against.
pub fn full_pods(raw: &[String]) -> Vec<Pod> {
    raw.iter()
        .filter_map(|r| serde_json::from_str(r).ok())
        .collect()
}

/// Full k8s-openapi decoding of raw node items.
pub fn full_nodes(raw: &[String]) -> Vec<Node> {
    raw.iter()
        .filter_map(|r| serde_json::from_str(r).ok())
        .collect()
}
