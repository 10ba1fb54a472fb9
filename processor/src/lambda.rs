//! The Firehose transform Lambda's shell: configuration, the snapshot cache and the handler.
//!
//! It owns everything around the pure [`Transform`]: reading settings from an environment
//! lookup (validated once at start), loading the snapshot from S3 once per container and
//! revalidating it with a conditional GET at most every `refresh` seconds, swapping in a freshly
//! built index atomically, and emitting logs and EMF metrics per batch. It never reads
//! `std::env` itself: `main` passes the lookup.
//!
//! It also owns [`RawEvents`], the runtime layer that hands the handler each event's raw text,
//! so that the event is read in place ([`FirehoseEvent::from_json`]) instead of being copied
//! record by record into an owned type by the runtime's own deserialization.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use dashmap::DashMap;
use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::{LambdaEvent, LambdaInvocation};
use pod_cache::index::PodIndex;
use pod_cache::store::{Fetched, SnapshotStore};
use tokio::sync::Mutex;

use crate::attribute::{Attributor, Pricing};
use crate::firehose::{FirehoseEvent, FirehoseResponse};
use crate::flowlog::{FlowFormat, RECOMMENDED_FORMAT};
use crate::metrics::transform_emf;
use crate::transform::{LAMBDA_RESPONSE_LIMIT_BYTES, Transform, TransformSettings};

/// Environment variable names, as documented in the README and set by `deploy/template.yaml`.
pub mod env {
    /// Bucket holding the snapshots (required).
    pub const SNAPSHOT_BUCKET: &str = "CROSSAZ_SNAPSHOT_BUCKET";
    /// Key of the `latest` snapshot, e.g. `snapshots/<cluster>/latest` (required).
    pub const SNAPSHOT_KEY: &str = "CROSSAZ_SNAPSHOT_KEY";
    /// The flow log's `LogFormat` (`${version} ${account-id} …`); defaults to the recommended one.
    pub const FLOW_FORMAT: &str = "CROSSAZ_FLOW_FORMAT";
    /// Estimated USD per GB counted at egress (default 0.02).
    pub const USD_PER_GB: &str = "CROSSAZ_USD_PER_GB";
    /// Seconds a record may be newer than the snapshot before the batch fails (default 600).
    pub const MAX_SNAPSHOT_LAG_SECS: &str = "CROSSAZ_MAX_SNAPSHOT_LAG_SECS";
    /// Seconds a record may be older than the snapshot before it is failed (default 3600).
    pub const MAX_RECORD_AGE_SECS: &str = "CROSSAZ_MAX_RECORD_AGE_SECS";
    /// Seconds between conditional GETs of the snapshot (default 30).
    pub const SNAPSHOT_REFRESH_SECS: &str = "CROSSAZ_SNAPSHOT_REFRESH_SECS";
    /// Response byte budget (default 6,000,000; lowered only by tests).
    pub const MAX_RESPONSE_BYTES: &str = "CROSSAZ_MAX_RESPONSE_BYTES";
    /// `true` to address S3 path-style (local S3 peers such as moto).
    pub const S3_FORCE_PATH_STYLE: &str = "CROSSAZ_S3_FORCE_PATH_STYLE";
    /// Set by the Lambda runtime: the function's name, the `Function` dimension of the EMF
    /// metrics (two stacks in one account keep their metrics and alarms apart).
    pub const FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";
}

/// The `Function` metric dimension outside Lambda (no `AWS_LAMBDA_FUNCTION_NAME`).
pub const DEFAULT_FUNCTION_NAME: &str = "crossaz-transform";

/// How often the snapshot is revalidated by default: the extractor writes one every minute.
pub const DEFAULT_SNAPSHOT_REFRESH_SECS: u64 = 30;

/// Validated configuration of the transform Lambda.
#[derive(Debug, Clone)]
pub struct Config {
    /// Snapshot bucket.
    pub bucket: String,
    /// Snapshot key.
    pub key: String,
    /// Compiled flow-log format (checked to carry the fields attribution needs).
    pub format: FlowFormat,
    /// Cost estimate.
    pub pricing: Pricing,
    /// Transform tunables.
    pub settings: TransformSettings,
    /// Revalidation interval.
    pub refresh: Duration,
    /// Path-style S3 addressing.
    pub force_path_style: bool,
    /// The function's name: the `Function` dimension of its metrics.
    pub function_name: String,
}

impl Config {
    /// Reads and validates the configuration through `lookup` (e.g. `|k| std::env::var(k).ok()`).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Config> {
        let required = |name: &str| {
            lookup(name)
                .filter(|v| !v.is_empty())
                .with_context(|| format!("{name} must be set"))
        };
        let format_spec = lookup(env::FLOW_FORMAT).unwrap_or_else(|| RECOMMENDED_FORMAT.to_owned());
        let format = FlowFormat::parse(&format_spec)
            .with_context(|| format!("{} is not a flow-log format", env::FLOW_FORMAT))?;
        format
            .require_attribution_fields()
            .with_context(|| format!("{} cannot attribute pods", env::FLOW_FORMAT))?;
        let defaults = TransformSettings::default();
        let usd_per_gb: f64 = parse_or(&lookup, env::USD_PER_GB, Pricing::default().usd_per_gb)?;
        if !(usd_per_gb.is_finite() && usd_per_gb >= 0.0) {
            bail!(
                "{} must be a non-negative number, got {usd_per_gb}",
                env::USD_PER_GB
            );
        }
        let max_response_bytes = parse_or(
            &lookup,
            env::MAX_RESPONSE_BYTES,
            defaults.max_response_bytes,
        )?;
        if !(1..=LAMBDA_RESPONSE_LIMIT_BYTES).contains(&max_response_bytes) {
            bail!(
                "{} must be 1..={LAMBDA_RESPONSE_LIMIT_BYTES} (Lambda's response limit), got {max_response_bytes}",
                env::MAX_RESPONSE_BYTES
            );
        }
        Ok(Config {
            bucket: required(env::SNAPSHOT_BUCKET)?,
            key: required(env::SNAPSHOT_KEY)?,
            format,
            pricing: Pricing { usd_per_gb },
            settings: TransformSettings {
                max_response_bytes,
                max_snapshot_lag_secs: parse_or(
                    &lookup,
                    env::MAX_SNAPSHOT_LAG_SECS,
                    defaults.max_snapshot_lag_secs,
                )?,
                max_record_age_secs: parse_or(
                    &lookup,
                    env::MAX_RECORD_AGE_SECS,
                    defaults.max_record_age_secs,
                )?,
            },
            refresh: Duration::from_secs(parse_or(
                &lookup,
                env::SNAPSHOT_REFRESH_SECS,
                DEFAULT_SNAPSHOT_REFRESH_SECS,
            )?),
            force_path_style: parse_or(&lookup, env::S3_FORCE_PATH_STYLE, false)?,
            function_name: lookup(env::FUNCTION_NAME)
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| DEFAULT_FUNCTION_NAME.to_owned()),
        })
    }
}

fn parse_or<T: std::str::FromStr>(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: T,
) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    match lookup(name) {
        None => Ok(default),
        Some(v) if v.is_empty() => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|e| anyhow::anyhow!("{name}={v:?} is invalid: {e}")),
    }
}

struct Cached {
    index: Arc<PodIndex>,
    etag: String,
    checked: Instant,
}

/// A runtime layer that takes each invocation's event text before the runtime deserializes it,
/// leaving `null` in its place, and keeps it for the handler under the invocation's request id.
/// The handler is then typed `LambdaEvent<()>` and calls [`RawEvents::take`].
///
/// Keyed by request id, so invocations the runtime runs concurrently
/// (`AWS_LAMBDA_MAX_CONCURRENCY`) each get their own event.
#[derive(Debug, Clone, Default)]
pub struct RawEvents {
    bodies: Arc<DashMap<String, Bytes>>,
}

impl RawEvents {
    /// The event text of the invocation `event` belongs to (once).
    pub fn take(&self, event: &LambdaEvent<()>) -> anyhow::Result<Bytes> {
        self.bodies
            .remove(&event.context.request_id)
            .map(|(_, body)| body)
            .with_context(|| {
                format!(
                    "no event text kept for request {}: is the RawEvents layer installed?",
                    event.context.request_id
                )
            })
    }
}

impl<S> Layer<S> for RawEvents {
    type Service = RawEventService<S>;

    fn layer(&self, inner: S) -> RawEventService<S> {
        RawEventService {
            inner,
            events: self.clone(),
        }
    }
}

/// The service [`RawEvents`] wraps around the runtime's own.
#[derive(Debug, Clone)]
pub struct RawEventService<S> {
    inner: S,
    events: RawEvents,
}

impl<S> Service<LambdaInvocation> for RawEventService<S>
where
    S: Service<LambdaInvocation>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut invocation: LambdaInvocation) -> Self::Future {
        let body = std::mem::replace(&mut invocation.body, Bytes::from_static(b"null"));
        let id = invocation.context.request_id.clone();
        self.events.bodies.insert(id.clone(), body);
        let bodies = Arc::clone(&self.events.bodies);
        let handled = self.inner.call(invocation);
        Box::pin(async move {
            let result = handled.await;
            // Gone even if the handler never took it (it failed first, or panicked inside the
            // runtime's panic guard): an event never outlives its invocation.
            bodies.remove(&id);
            result
        })
    }
}

/// The per-container state: built once in `main`, shared by every invocation.
pub struct Handler {
    config: Config,
    store: SnapshotStore,
    cache: Mutex<Option<Cached>>,
}

impl Handler {
    /// A handler reading snapshots through `store`.
    pub fn new(config: Config, store: SnapshotStore) -> Handler {
        Handler {
            config,
            store,
            cache: Mutex::new(None),
        }
    }

    /// The current index: cached, revalidated with a conditional GET once `refresh` has passed.
    /// A missing snapshot is a systemic failure (the batch is retried, then error-prefixed).
    async fn index(&self) -> anyhow::Result<Arc<PodIndex>> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref()
            && c.checked.elapsed() < self.config.refresh
        {
            return Ok(Arc::clone(&c.index));
        }
        let etag = cache.as_ref().map(|c| c.etag.as_str());
        let fetched = self
            .store
            .load_if_changed(&self.config.key, etag)
            .await
            .with_context(|| {
                format!(
                    "loading snapshot s3://{}/{}",
                    self.config.bucket, self.config.key
                )
            })?;
        match fetched {
            Fetched::NotModified => {
                let c = cache
                    .as_mut()
                    .context("S3 answered 304 without a cached snapshot")?;
                c.checked = Instant::now();
                Ok(Arc::clone(&c.index))
            }
            Fetched::Changed { snapshot, etag } => {
                let index =
                    Arc::new(tokio::task::spawn_blocking(move || PodIndex::new(snapshot)).await?);
                tracing::info!(
                    pods = index.snapshot().pods.len(),
                    nodes = index.snapshot().nodes.len(),
                    generated_at = index.snapshot().generated_at,
                    "snapshot loaded"
                );
                *cache = Some(Cached {
                    index: Arc::clone(&index),
                    etag,
                    checked: Instant::now(),
                });
                Ok(index)
            }
            Fetched::NotFound => bail!(
                "no snapshot at s3://{}/{}: is the extractor running?",
                self.config.bucket,
                self.config.key
            ),
        }
    }

    /// Handles one Firehose event. Returns the response document, which the runtime sends
    /// verbatim, or an error (failing the invocation, so Firehose retries) only for systemic
    /// failures.
    pub async fn handle(&self, event: FirehoseEvent<'_>) -> anyhow::Result<FirehoseResponse> {
        let index = self.index().await?;
        let attributor = Attributor::new(&index, self.config.pricing);
        let transform = Transform::new(&self.config.format, attributor, self.config.settings);
        let (response, stats) = transform.run(&event).map_err(|e| {
            tracing::error!(error = %e, records = event.records.len(), "batch failed");
            e
        })?;
        let now = chrono::Utc::now();
        let age = now.timestamp() - index.snapshot().generated_at;
        println!(
            "{}",
            transform_emf(
                &self.config.function_name,
                &stats,
                age,
                now.timestamp_millis()
            )
        );
        tracing::info!(
            records = stats.records_in,
            ok = stats.records_ok,
            dropped = stats.records_dropped,
            failed = stats.records_failed,
            rows = stats.rows_kept,
            snapshot_age_secs = age,
            "batch done"
        );
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn invocation(request_id: &str, body: &'static str) -> LambdaInvocation {
        let mut context = lambda_runtime::Context::default();
        context.request_id = request_id.to_owned();
        LambdaInvocation {
            parts: http::Response::new(()).into_parts().0,
            body: Bytes::from_static(body.as_bytes()),
            context,
        }
    }

    #[tokio::test]
    async fn raw_events_hand_each_handler_its_own_text_once_and_keep_none() {
        let events = RawEvents::default();
        let taken = events.clone();
        // Stands where the runtime's own service is: it sees the body the runtime deserializes,
        // then calls the handler, which takes the text (or fails before it does).
        let inner = lambda_runtime::service_fn(move |invocation: LambdaInvocation| {
            let taken = taken.clone();
            async move {
                let seen = invocation.body.clone();
                let event = LambdaEvent::new((), invocation.context);
                if event.context.request_id == "fails-first" {
                    anyhow::bail!("handler failed before taking its event");
                }
                let text = taken.take(&event)?;
                let again = taken.take(&event).unwrap_err().to_string();
                Ok((seen, text, again))
            }
        });
        let mut service = events.layer(inner);
        let (seen, text, again) = service
            .call(invocation("a", r#"{"records":["a"]}"#))
            .await
            .unwrap();
        assert_eq!(seen, "null");
        assert_eq!(text, r#"{"records":["a"]}"#);
        assert!(
            again.contains("no event text kept for request a"),
            "{again}"
        );
        let (_, text, _) = service
            .call(invocation("b", r#"{"records":["b"]}"#))
            .await
            .unwrap();
        assert_eq!(text, r#"{"records":["b"]}"#);
        let failed = service.call(invocation("fails-first", "{}")).await;
        assert!(failed.is_err());
        assert!(events.bodies.is_empty(), "an untaken event was kept");
    }

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn config_defaults_and_overrides() {
        let c = Config::from_lookup(lookup(&[
            (env::SNAPSHOT_BUCKET, "b"),
            (env::SNAPSHOT_KEY, "snapshots/c/latest"),
            (env::USD_PER_GB, "0.01"),
        ]))
        .unwrap();
        assert_eq!(c.bucket, "b");
        assert!((c.pricing.usd_per_gb - 0.01).abs() < f64::EPSILON);
        assert_eq!(c.settings, TransformSettings::default());
        assert_eq!(c.refresh, Duration::from_secs(30));
        assert!(!c.force_path_style);
        assert_eq!(c.function_name, DEFAULT_FUNCTION_NAME);
    }

    #[test]
    fn config_errors_name_the_variable() {
        let missing = Config::from_lookup(lookup(&[(env::SNAPSHOT_KEY, "k")])).unwrap_err();
        assert_eq!(missing.to_string(), "CROSSAZ_SNAPSHOT_BUCKET must be set");
        let bad = config_with(env::MAX_SNAPSHOT_LAG_SECS, "soon").unwrap_err();
        assert!(
            bad.to_string()
                .starts_with("CROSSAZ_MAX_SNAPSHOT_LAG_SECS=\"soon\" is invalid"),
            "{bad}"
        );
        let v2 = config_with(env::FLOW_FORMAT, "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}").unwrap_err();
        assert_eq!(v2.to_string(), "CROSSAZ_FLOW_FORMAT cannot attribute pods");
        assert!(format!("{v2:#}").contains("pkt-srcaddr"), "{v2:#}");
        for budget in ["0", "6291457"] {
            assert_eq!(
                config_with(env::MAX_RESPONSE_BYTES, budget)
                    .unwrap_err()
                    .to_string(),
                format!(
                    "CROSSAZ_MAX_RESPONSE_BYTES must be 1..=6291456 (Lambda's response limit), got {budget}"
                )
            );
        }
        let at_limit = config_with(env::MAX_RESPONSE_BYTES, "6291456").unwrap();
        assert_eq!(at_limit.settings.max_response_bytes, 6_291_456);
    }

    /// The configuration with the required variables and `name=value`.
    fn config_with(name: &str, value: &str) -> anyhow::Result<Config> {
        Config::from_lookup(lookup(&[
            (env::SNAPSHOT_BUCKET, "b"),
            (env::SNAPSHOT_KEY, "k"),
            (name, value),
        ]))
    }
}
