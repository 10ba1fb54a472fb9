//! `crossaz-extractor`: the extractor Lambda when started by the Lambda runtime
//! (`AWS_LAMBDA_RUNTIME_API` set), otherwise the `extract` / `history` command line.

use std::process::ExitCode;

use anyhow::Context as _;
use pod_cache::extract::{cli, config::ExtractorConfig, lambda};

const LAMBDA_RUNTIME_API: &str = "AWS_LAMBDA_RUNTIME_API";

#[tokio::main]
async fn main() -> ExitCode {
    let result = if std::env::var_os(LAMBDA_RUNTIME_API).is_some() {
        run_lambda().await
    } else {
        run_cli().await
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("crossaz-extractor: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run_lambda() -> anyhow::Result<()> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = ExtractorConfig::from_env(|name| std::env::var(name).ok())
        .context("invalid extractor configuration")?;
    lambda::run(config)
        .await
        .map_err(|err| anyhow::anyhow!(err))
        .context("extractor Lambda stopped")
}

async fn run_cli() -> anyhow::Result<()> {
    // Logs to stderr; the summary (data) goes to stdout.
    lambda_runtime::tracing::init_default_subscriber_with_writer(std::io::stderr);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = cli::parse_args(&args)?;
    let now = chrono::Utc::now().timestamp();
    let summary = cli::execute(&command, now).await?;
    println!("{summary}");
    Ok(())
}
