//! The Firehose transform Lambda (`bootstrap`): config from the environment, clients built
//! once, then the Lambda runtime loop.

use std::sync::Arc;

use crossaz::firehose::FirehoseEvent;
use crossaz::lambda::{Config, Handler, RawEvents};
use lambda_runtime::layers::TracingLayer;
use lambda_runtime::{LambdaEvent, Runtime, service_fn};
use pod_cache::store::SnapshotStore;

// The hot path allocates and frees per record; mimalloc is markedly faster there than glibc's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
    let config = Config::from_lookup(|k| std::env::var(k).ok())?;
    let shared = aws_config::load_from_env().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(config.force_path_style)
            .build(),
    );
    let store = SnapshotStore::new(s3, config.bucket.clone(), "");
    let handler = Arc::new(Handler::new(config, store));
    // The event text reaches the handler untouched (RawEvents): it is read in place.
    let events = RawEvents::default();
    let taken = events.clone();
    Runtime::new(service_fn(move |event: LambdaEvent<()>| {
        let (handler, taken) = (Arc::clone(&handler), taken.clone());
        async move {
            let text = taken.take(&event)?;
            let event = FirehoseEvent::from_json(&text)?;
            handler
                .handle(event)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .layer(events)
    .layer(TracingLayer::new())
    .run()
    .await
}
