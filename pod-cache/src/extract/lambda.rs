//! The extractor Lambda: one run per EventBridge scheduled event.
//!
//! Clients are built once per execution environment (S3, EKS endpoint and CA, the kube client
//! with its refreshing token); each invocation refreshes the signing credentials, runs
//! [`run_extract`](super::run_extract) against S3 (`latest` as the previous snapshot) and prints
//! one EMF metrics line. A failed run returns an error, so the invocation fails visibly and
//! EventBridge/CloudWatch alarms see it; there is no silent success.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::config::ExtractorConfig;
use super::eks::{self, TokenSource};
use super::list::ListOptions;
use super::{
    Destination, ExtractError, ExtractReport, ExtractRequest, Previous, emf_line, run_extract,
};
use crate::store::SnapshotStore;

/// Everything an invocation needs, built at cold start.
pub struct LambdaState {
    config: ExtractorConfig,
    sdk: aws_config::SdkConfig,
    store: SnapshotStore,
    tokens: Arc<TokenSource>,
    kube: kube::Client,
}

/// Builds the clients: AWS config, S3, `eks:DescribeCluster`, the token source and kube client.
pub async fn init(config: ExtractorConfig) -> Result<LambdaState, ExtractError> {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let region = sdk
        .region()
        .map(ToString::to_string)
        .ok_or_else(|| ExtractError::Connect("no AWS region configured (AWS_REGION)".into()))?;
    let store = SnapshotStore::new(
        aws_sdk_s3::Client::new(&sdk),
        &config.bucket,
        &config.prefix,
    );
    let endpoint = eks::describe_cluster(&aws_sdk_eks::Client::new(&sdk), &config.cluster).await?;
    let credentials = eks::current_credentials(&sdk).await?;
    let tokens = Arc::new(TokenSource::new(&config.cluster, &region, credentials));
    let kube = eks::eks_client(&endpoint, Arc::clone(&tokens)).await?;
    tracing::info!(cluster = %config.cluster, endpoint = %endpoint.endpoint, bucket = %config.bucket, "extractor ready");
    Ok(LambdaState {
        config,
        sdk,
        store,
        tokens,
        kube,
    })
}

fn request_of(config: &ExtractorConfig) -> ExtractRequest {
    ExtractRequest {
        cluster: config.cluster.clone(),
        app_label_keys: config.app_label_keys.clone(),
        namespaces: config.namespaces.clone(),
        retention_secs: config.retention_secs,
        list: ListOptions {
            label_selector: config.label_selector.clone(),
            ..ListOptions::default()
        },
    }
}

/// One invocation at `now` (epoch seconds).
pub async fn handle(state: &LambdaState, now: i64) -> Result<ExtractReport, ExtractError> {
    // The provider caches; a changed key (rotated role session) re-signs the token.
    state
        .tokens
        .set_credentials(eks::current_credentials(&state.sdk).await?);
    run_extract(
        &state.kube,
        &request_of(&state.config),
        &Previous::Latest,
        &Destination::S3(state.store.clone()),
        now,
    )
    .await
}

/// `errorType` reported to the Lambda runtime for a failed run.
pub const ERROR_TYPE: &str = "crossaz.ExtractError";

impl From<ExtractError> for lambda_runtime::Diagnostic {
    fn from(err: ExtractError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: ERROR_TYPE.to_owned(),
            error_message: err.to_string(),
        }
    }
}

fn epoch_now() -> (i64, i64) {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (elapsed.as_secs() as i64, elapsed.as_millis() as i64)
}

/// Runs the Lambda loop until the runtime stops it.
pub async fn run(config: ExtractorConfig) -> Result<(), lambda_runtime::Error> {
    let state = Arc::new(init(config).await?);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |_event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let state = Arc::clone(&state);
            async move {
                let (now, now_ms) = epoch_now();
                let report = handle(&state, now).await.inspect_err(|err| {
                    tracing::error!(cluster = %state.config.cluster, error = %err, "extraction failed");
                })?;
                // EMF goes to stdout as its own line; CloudWatch turns it into metrics.
                println!("{}", emf_line(&report, now_ms));
                Ok::<_, ExtractError>(serde_json::json!({
                    "cluster": report.cluster,
                    "generatedAt": report.observed_at,
                    "pods": report.snapshot_pods,
                    "nodes": report.snapshot_nodes,
                    "decodeFailures": report.list.decode_failures.len(),
                    "snapshotBytes": report.snapshot_bytes,
                    "latest": report.published.as_ref().map(|k| k.latest.clone()),
                    "history": report.published.as_ref().map(|k| k.history.clone()),
                }))
            }
        },
    ))
    .await
}
