//! The extractor's command line (`crossaz-extractor extract|history …`), kept free of clap so the
//! Lambda binary links nothing extra. [`parse_args`] is pure; [`execute`] builds the clients
//! (kubeconfig, default AWS config) and calls [`run_extract`](super::run_extract) or
//! [`run_history`](super::run_history). `crossaz snapshot extract|history` can build the same
//! [`Command`] from its own flags and call [`execute`].

use std::path::{Path, PathBuf};

use super::config::{comma_list, is_valid_cluster_name};
use super::list::ListOptions;
use super::{Destination, ExtractError, ExtractRequest, Previous, run_extract, run_history};
use crate::build::DEFAULT_APP_LABEL_KEYS;
use crate::merge::DEFAULT_RETENTION_SECS;
use crate::store::{DEFAULT_PREFIX, SnapshotStore};

/// Usage text printed on `--help` and on a usage error.
pub const USAGE: &str = "\
usage:
  crossaz-extractor extract [--kubeconfig FILE] [--cluster NAME] [--namespaces A,B]
                            [--selector LABEL_SELECTOR] [--app-label KEY,KEY] [--retention-secs N]
                            [--page-size N] [--previous SNAPSHOT] --out SNAPSHOT|s3://BUCKET/PREFIX
  crossaz-extractor history s3://BUCKET/PREFIX --cluster NAME --at RFC3339 --out FILE

extract  lists pods and nodes of the kubeconfig's current context (KUBECONFIG or ~/.kube/config),
         merges with the previous snapshot (--previous FILE, or S3 latest when --out is s3://)
         and writes the snapshot file, or publishes history + latest under s3://BUCKET/PREFIX.
history  copies the snapshot in force at --at (newest history object at or before it) to FILE.
The cluster name defaults to the current context's cluster; an empty S3 prefix means snapshots/.";

const S3_SCHEME: &str = "s3://";

/// Where `extract` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A local snapshot file.
    File(PathBuf),
    /// An S3 snapshot tree.
    S3 {
        /// Bucket.
        bucket: String,
        /// Prefix.
        prefix: String,
    },
}

/// Arguments of `extract`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractArgs {
    /// Kubeconfig file (default: `KUBECONFIG` or `~/.kube/config`).
    pub kubeconfig: Option<PathBuf>,
    /// Cluster name (default: the current context's cluster).
    pub cluster: Option<String>,
    /// Namespaces; empty = all.
    pub namespaces: Vec<String>,
    /// Pod label selector.
    pub selector: Option<String>,
    /// App label keys; empty = [`DEFAULT_APP_LABEL_KEYS`].
    pub app_label_keys: Vec<String>,
    /// Retention of vanished pods (seconds).
    pub retention_secs: i64,
    /// Page size.
    pub page_size: u32,
    /// Previous snapshot file.
    pub previous: Option<PathBuf>,
    /// Destination.
    pub out: Output,
}

/// Arguments of `history`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryArgs {
    /// Bucket.
    pub bucket: String,
    /// Prefix.
    pub prefix: String,
    /// Cluster.
    pub cluster: String,
    /// Time (epoch seconds).
    pub at: i64,
    /// Output file.
    pub out: PathBuf,
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `extract`.
    Extract(ExtractArgs),
    /// `history`.
    History(HistoryArgs),
    /// `--help`.
    Help,
}

fn usage(message: impl Into<String>) -> ExtractError {
    ExtractError::Usage(format!("{}\n\n{USAGE}", message.into()))
}

/// Splits `s3://bucket/prefix` (empty prefix = [`DEFAULT_PREFIX`]).
pub fn parse_s3_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix(S3_SCHEME)?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return None;
    }
    let prefix = if prefix.trim_matches('/').is_empty() {
        DEFAULT_PREFIX.to_owned()
    } else {
        prefix.to_owned()
    };
    Some((bucket.to_owned(), prefix))
}

fn parse_number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, ExtractError> {
    value
        .parse()
        .map_err(|_| usage(format!("--{flag} {value:?}: expected a whole number")))
}

/// Parses the arguments after the program name.
pub fn parse_args(args: &[String]) -> Result<Command, ExtractError> {
    let Some((command, rest)) = args.split_first() else {
        return Err(usage("missing command"));
    };
    let mut positional = Vec::new();
    let mut flags: Vec<(&str, &str)> = Vec::new();
    let mut iter = rest.iter();
    while let Some(arg) = iter.next() {
        if arg == "--help" || arg == "-h" {
            return Ok(Command::Help);
        }
        if let Some(flag) = arg.strip_prefix("--") {
            let (name, value) = match flag.split_once('=') {
                Some((name, value)) => (name, value),
                None => (
                    flag,
                    iter.next()
                        .ok_or_else(|| usage(format!("--{flag} needs a value")))?
                        .as_str(),
                ),
            };
            flags.push((name, value));
        } else {
            positional.push(arg.as_str());
        }
    }
    match command.as_str() {
        "--help" | "-h" | "help" => Ok(Command::Help),
        "extract" => parse_extract(&positional, &flags),
        "history" => parse_history(&positional, &flags),
        other => Err(usage(format!("unknown command {other:?}"))),
    }
}

fn parse_extract(positional: &[&str], flags: &[(&str, &str)]) -> Result<Command, ExtractError> {
    if let Some(extra) = positional.first() {
        return Err(usage(format!("unexpected argument {extra:?}")));
    }
    let mut args = ExtractArgs {
        kubeconfig: None,
        cluster: None,
        namespaces: Vec::new(),
        selector: None,
        app_label_keys: Vec::new(),
        retention_secs: DEFAULT_RETENTION_SECS,
        page_size: super::list::DEFAULT_PAGE_SIZE,
        previous: None,
        out: Output::File(PathBuf::new()),
    };
    let mut out = None;
    for &(name, value) in flags {
        match name {
            "kubeconfig" => args.kubeconfig = Some(value.into()),
            "cluster" => args.cluster = Some(value.to_owned()),
            "namespaces" | "namespace" => args.namespaces = comma_list(value),
            "selector" => args.selector = Some(value.to_owned()),
            "app-label" => args.app_label_keys = comma_list(value),
            "retention-secs" => args.retention_secs = parse_number(name, value)?,
            "page-size" => args.page_size = parse_number(name, value)?,
            "previous" => args.previous = Some(value.into()),
            "out" => {
                out = Some(if value.starts_with(S3_SCHEME) {
                    let (bucket, prefix) = parse_s3_url(value).ok_or_else(|| {
                        usage(format!("--out {value:?}: expected s3://BUCKET/PREFIX"))
                    })?;
                    Output::S3 { bucket, prefix }
                } else {
                    Output::File(value.into())
                });
            }
            other => return Err(usage(format!("extract: unknown flag --{other}"))),
        }
    }
    args.out = out.ok_or_else(|| usage("extract: --out is required"))?;
    if args.page_size == 0 {
        return Err(usage("--page-size must be at least 1"));
    }
    Ok(Command::Extract(args))
}

fn parse_history(positional: &[&str], flags: &[(&str, &str)]) -> Result<Command, ExtractError> {
    let [url] = positional else {
        return Err(usage("history: expected exactly one s3://BUCKET/PREFIX"));
    };
    let (bucket, prefix) =
        parse_s3_url(url).ok_or_else(|| usage(format!("{url:?}: expected s3://BUCKET/PREFIX")))?;
    let (mut cluster, mut at, mut out) = (None, None, None);
    for &(name, value) in flags {
        match name {
            "cluster" => cluster = Some(value.to_owned()),
            "at" => {
                let time = chrono::DateTime::parse_from_rfc3339(value).map_err(|e| {
                    usage(format!(
                        "--at {value:?}: expected RFC 3339 (2026-11-27T05:30:00Z): {e}"
                    ))
                })?;
                at = Some(time.timestamp());
            }
            "out" => out = Some(PathBuf::from(value)),
            other => return Err(usage(format!("history: unknown flag --{other}"))),
        }
    }
    Ok(Command::History(HistoryArgs {
        bucket,
        prefix,
        cluster: cluster.ok_or_else(|| usage("history: --cluster is required"))?,
        at: at.ok_or_else(|| usage("history: --at is required"))?,
        out: out.ok_or_else(|| usage("history: --out is required"))?,
    }))
}

/// A kube client for the current context of a kubeconfig file (default: `KUBECONFIG` or
/// `~/.kube/config`), with the name of that context's cluster.
pub async fn kubeconfig_client(
    path: Option<&Path>,
) -> Result<(kube::Client, Option<String>), ExtractError> {
    let connect = |e: &dyn std::fmt::Display| ExtractError::Connect(e.to_string());
    let kubeconfig = match path {
        Some(path) => kube::config::Kubeconfig::read_from(path),
        None => kube::config::Kubeconfig::read(),
    }
    .map_err(|e| connect(&e))?;
    let cluster = kubeconfig.current_context.as_ref().and_then(|current| {
        kubeconfig
            .contexts
            .iter()
            .find(|c| &c.name == current)
            .and_then(|c| c.context.as_ref())
            .map(|c| c.cluster.clone())
    });
    let mut config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .map_err(|e| connect(&e))?;
    // The lister retries 429/5xx itself, with bounds it counts and reports.
    config.default_retry = false;
    super::install_crypto_provider();
    let client = kube::Client::try_from(config).map_err(|e| connect(&e))?;
    Ok((client, cluster))
}

/// An S3 client from the default AWS configuration; path-style when an endpoint URL is set
/// (`AWS_ENDPOINT_URL`: moto and other local peers).
pub async fn s3_client_from_environment() -> aws_sdk_s3::Client {
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let path_style = shared.endpoint_url().is_some();
    let config = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(path_style)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Runs a parsed command at time `now` (epoch seconds) and returns a one-line summary.
pub async fn execute(command: &Command, now: i64) -> Result<String, ExtractError> {
    match command {
        Command::Help => Ok(USAGE.to_owned()),
        Command::History(args) => {
            let store = SnapshotStore::new(
                s3_client_from_environment().await,
                &args.bucket,
                &args.prefix,
            );
            let snapshot = run_history(&store, &args.cluster, args.at, &args.out).await?;
            Ok(format!(
                "wrote {} (cluster {}, generated_at {}, {} pods, {} nodes)",
                args.out.display(),
                snapshot.cluster,
                snapshot.generated_at,
                snapshot.pods.len(),
                snapshot.nodes.len()
            ))
        }
        Command::Extract(args) => {
            let (client, context_cluster) = kubeconfig_client(args.kubeconfig.as_deref()).await?;
            let cluster = args.cluster.clone().or(context_cluster).ok_or_else(|| {
                usage("extract: no --cluster and the kubeconfig has no current context")
            })?;
            if !is_valid_cluster_name(&cluster) {
                return Err(usage(format!(
                    "cluster name {cluster:?}: use --cluster with letters, digits, '-' or '_'"
                )));
            }
            let request = ExtractRequest {
                cluster,
                app_label_keys: if args.app_label_keys.is_empty() {
                    DEFAULT_APP_LABEL_KEYS.map(str::to_owned).to_vec()
                } else {
                    args.app_label_keys.clone()
                },
                namespaces: args.namespaces.clone(),
                retention_secs: args.retention_secs,
                list: ListOptions {
                    page_size: args.page_size,
                    label_selector: args.selector.clone(),
                    ..ListOptions::default()
                },
            };
            let (destination, previous) = match &args.out {
                Output::File(path) => (Destination::File(path.clone()), None),
                Output::S3 { bucket, prefix } => {
                    let client = s3_client_from_environment().await;
                    let store = SnapshotStore::new(client, bucket, prefix);
                    (Destination::S3(store), Some(Previous::Latest))
                }
            };
            let previous = match &args.previous {
                Some(path) => Previous::File(path.clone()),
                None => previous.unwrap_or(Previous::None),
            };
            let report = run_extract(&client, &request, &previous, &destination, now).await?;
            let target = match &report.published {
                Some(keys) => format!("{} and {}", keys.history, keys.latest),
                None => match &args.out {
                    Output::File(path) => path.display().to_string(),
                    Output::S3 { .. } => String::new(),
                },
            };
            Ok(format!(
                "cluster {}: {} pods ({} listed), {} nodes, {} pages, {} decode failures, {} bytes -> {target}",
                report.cluster,
                report.snapshot_pods,
                report.listed_pods,
                report.snapshot_nodes,
                report.list.pages,
                report.list.decode_failures.len(),
                report.snapshot_bytes
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn extract_flags_are_parsed() {
        let got = parse_args(&args(
            "extract --kubeconfig /k --cluster prod --namespaces a,b --selector tier=web \
             --app-label app --retention-secs=60 --page-size 100 --previous p.snap --out s3://bkt/x/y",
        ))
        .expect("valid");
        assert_eq!(
            got,
            Command::Extract(ExtractArgs {
                kubeconfig: Some("/k".into()),
                cluster: Some("prod".into()),
                namespaces: vec!["a".into(), "b".into()],
                selector: Some("tier=web".into()),
                app_label_keys: vec!["app".into()],
                retention_secs: 60,
                page_size: 100,
                previous: Some("p.snap".into()),
                out: Output::S3 {
                    bucket: "bkt".into(),
                    prefix: "x/y".into()
                },
            })
        );
    }

    #[test]
    fn history_parses_rfc3339() {
        let got = parse_args(&args(
            "history s3://bkt --cluster prod --at 2026-11-27T06:30:00+01:00 --out o.snap",
        ))
        .expect("valid");
        assert_eq!(
            got,
            Command::History(HistoryArgs {
                bucket: "bkt".into(),
                prefix: "snapshots/".into(),
                cluster: "prod".into(),
                at: 1_795_757_400,
                out: "o.snap".into(),
            })
        );
    }

    #[test]
    fn usage_errors_say_what_is_wrong() {
        let cases = [
            ("", "missing command"),
            ("frobnicate", "unknown command \"frobnicate\""),
            ("extract", "extract: --out is required"),
            ("extract --out", "--out needs a value"),
            ("extract --out f --bogus 1", "extract: unknown flag --bogus"),
            ("extract --out s3:///x", "expected s3://BUCKET/PREFIX"),
            (
                "extract --out f --page-size ten",
                "--page-size \"ten\": expected a whole number",
            ),
            (
                "history s3://b --at 2026 --cluster c --out f",
                "--at \"2026\": expected RFC 3339",
            ),
            (
                "history --at 2026-11-27T00:00:00Z --cluster c --out f",
                "expected exactly one",
            ),
            (
                "history s3://b --at 2026-11-27T00:00:00Z --out f",
                "--cluster is required",
            ),
        ];
        for (line, expected) in cases {
            let err = parse_args(&args(line)).expect_err(line).to_string();
            assert!(
                err.starts_with(expected) || err.contains(expected),
                "{line}: {err}"
            );
            assert!(err.ends_with(USAGE), "{line}");
        }
    }

    #[test]
    fn s3_urls() {
        for (url, expected) in [
            ("s3://b/p/", Some(("b", "p/"))),
            ("s3://b", Some(("b", "snapshots/"))),
            ("s3://b/", Some(("b", "snapshots/"))),
            ("s3:///p", None),
            ("/tmp/x", None),
        ] {
            let got = parse_s3_url(url);
            assert_eq!(
                got.as_ref().map(|(b, p)| (b.as_str(), p.as_str())),
                expected,
                "{url}"
            );
        }
    }
}
