//! `crossaz snapshot …`: build a snapshot from kubectl JSON, show one, look an IP up in it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use pod_cache::Snapshot;
use pod_cache::build::{BuildOptions, build_snapshot, nodes_from_json, pods_from_json};
use pod_cache::codec;
use pod_cache::index::{Endpoint, PodIndex};
use pod_cache::merge::{DEFAULT_RETENTION_SECS, merge};

use super::{format_time, parse_time, read_file};

#[derive(Debug, Subcommand)]
pub(super) enum SnapshotCommand {
    /// Build a snapshot from `kubectl get pods -A -o json` and `kubectl get nodes -o json`.
    Build(BuildArgs),
    /// Summarize a snapshot, or look up who held an IP at a time.
    Show(ShowArgs),
    /// List pods and nodes from a cluster's API (kubeconfig) into a snapshot file or S3, merged
    /// with the previous one; the extractor Lambda's job, by hand. `--help` for its options.
    Extract(PassThrough),
    /// Fetch the snapshot valid at a time from an S3 history. `--help` for its options.
    History(PassThrough),
}

/// Arguments handed to the extractor's own parser (`crossaz-extractor` takes the same).
#[derive(Debug, Args)]
pub(super) struct PassThrough {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

#[derive(Debug, Args)]
pub(super) struct BuildArgs {
    /// PodList (or kubectl `List`) JSON.
    #[arg(long)]
    pods: PathBuf,
    /// NodeList (or kubectl `List`) JSON.
    #[arg(long)]
    nodes: PathBuf,
    /// A previous snapshot to merge with (first/last seen, retention of vanished pods).
    #[arg(long)]
    previous: Option<PathBuf>,
    /// When the lists were taken (RFC 3339 or epoch seconds); default: now.
    #[arg(long)]
    observed_at: Option<String>,
    /// Cluster name written into the snapshot.
    #[arg(long, default_value = "cluster")]
    cluster: String,
    /// Label keys holding the app name, first match wins (comma-separated).
    #[arg(long, value_delimiter = ',')]
    app_label: Vec<String>,
    /// Seconds a vanished pod is kept.
    #[arg(long, default_value_t = DEFAULT_RETENTION_SECS)]
    retention_secs: i64,
    /// Output snapshot file.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub(super) struct ShowArgs {
    /// Snapshot file.
    snapshot: PathBuf,
    /// Look up this IP instead of summarizing.
    #[arg(long)]
    ip: Option<IpAddr>,
    /// Time of the lookup (RFC 3339 or epoch seconds); default: the snapshot's time.
    #[arg(long)]
    at: Option<String>,
    /// Port of the flow on the IP's side (selects hostNetwork pods).
    #[arg(long)]
    port: Option<u16>,
    /// IANA protocol number of the flow (6 TCP, 17 UDP).
    #[arg(long, default_value_t = 6)]
    protocol: u8,
}

pub(super) fn run(cmd: SnapshotCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SnapshotCommand::Build(args) => build(&args),
        SnapshotCommand::Show(args) => show(&args),
        SnapshotCommand::Extract(rest) => extractor("extract", rest),
        SnapshotCommand::History(rest) => extractor("history", rest),
    }
}

fn extractor(command: &str, rest: PassThrough) -> anyhow::Result<ExitCode> {
    use pod_cache::extract::cli::{execute, parse_args};
    let mut args = vec![command.to_owned()];
    args.extend(rest.args);
    let parsed = parse_args(&args)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let summary = runtime.block_on(execute(&parsed, chrono::Utc::now().timestamp()))?;
    println!("{summary}");
    Ok(ExitCode::SUCCESS)
}

/// Reads a snapshot file in the documented encoding.
pub(super) fn load(path: &PathBuf) -> anyhow::Result<Snapshot> {
    codec::decode(&read_file(path)?)
        .with_context(|| format!("decoding snapshot {}", path.display()))
}

fn build(args: &BuildArgs) -> anyhow::Result<ExitCode> {
    let observed_at = match &args.observed_at {
        Some(t) => parse_time(t)?,
        None => chrono::Utc::now().timestamp(),
    };
    let (pods, skipped_pods) = pods_from_json(&read_file(&args.pods)?)
        .with_context(|| format!("reading pods from {}", args.pods.display()))?;
    let (nodes, skipped_nodes) = nodes_from_json(&read_file(&args.nodes)?)
        .with_context(|| format!("reading nodes from {}", args.nodes.display()))?;
    let mut opts = BuildOptions {
        cluster: args.cluster.clone(),
        ..BuildOptions::default()
    };
    if !args.app_label.is_empty() {
        opts.app_label_keys.clone_from(&args.app_label);
    }
    let (current, stats) = build_snapshot(&opts, observed_at, &pods, &nodes);
    let previous = args.previous.as_ref().map(load).transpose()?;
    let snapshot = merge(previous.as_ref(), current, args.retention_secs);
    let bytes = codec::encode(&snapshot)?;
    std::fs::write(&args.out, &bytes).with_context(|| format!("writing {}", args.out.display()))?;
    for skipped in skipped_pods
        .iter()
        .chain(&skipped_nodes)
        .chain(&stats.skipped)
    {
        eprintln!("skipped {skipped:?}");
    }
    eprintln!(
        "snapshot {}: {} pods ({} carried from before), {} nodes, {} bytes, observed {}",
        args.out.display(),
        snapshot.pods.len(),
        snapshot.pods.len().saturating_sub(stats.pods),
        snapshot.nodes.len(),
        bytes.len(),
        format_time(observed_at)
    );
    Ok(ExitCode::SUCCESS)
}

fn show(args: &ShowArgs) -> anyhow::Result<ExitCode> {
    let snapshot = load(&args.snapshot)?;
    if let Some(ip) = args.ip {
        let at = args
            .at
            .as_deref()
            .map(parse_time)
            .transpose()?
            .unwrap_or(snapshot.generated_at);
        let index = PodIndex::new(snapshot);
        let end = index.lookup(ip, at, args.port, Some(args.protocol));
        println!("{}", describe(ip, at, &end));
        return Ok(if matches!(end, Endpoint::Unknown) {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        });
    }
    print!("{}", summary(&snapshot));
    Ok(ExitCode::SUCCESS)
}

fn describe(ip: IpAddr, at: i64, end: &Endpoint<'_>) -> String {
    let mut s = format!("{ip} at {}: {}", format_time(at), end.kind());
    if let Some(p) = end.pod() {
        let _ = write!(
            s,
            " {}/{} ({} {})",
            p.namespace,
            p.name,
            p.workload_kind.as_str(),
            p.workload
        );
    }
    if let Some(n) = end.node() {
        let _ = write!(s, " on {}", n.name);
    }
    let _ = write!(
        s,
        " zone {} ({})",
        end.zone().unwrap_or("-"),
        end.zone_id().unwrap_or("-")
    );
    s
}

/// Counts per zone and per kind of pod, as printed by `snapshot show`.
pub(super) fn summary(snapshot: &Snapshot) -> String {
    let zone_of: BTreeMap<&str, (&str, &str)> = snapshot
        .nodes
        .iter()
        .map(|n| {
            (
                n.name.as_str(),
                (
                    n.zone.as_deref().unwrap_or("-"),
                    n.zone_id.as_deref().unwrap_or("-"),
                ),
            )
        })
        .collect();
    let mut zones: BTreeMap<(&str, &str), (usize, usize)> = BTreeMap::new();
    for n in &snapshot.nodes {
        zones.entry(zone_of[n.name.as_str()]).or_default().0 += 1;
    }
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for p in &snapshot.pods {
        let zone = p
            .node
            .as_deref()
            .and_then(|n| zone_of.get(n))
            .copied()
            .unwrap_or(("-", "-"));
        zones.entry(zone).or_default().1 += 1;
        let kind = if p.is_terminated() {
            "terminated (owns no IP)"
        } else if p.last_seen < snapshot.generated_at {
            "vanished (retained)"
        } else if p.host_network {
            "hostNetwork"
        } else {
            "pod network"
        };
        *kinds.entry(kind).or_default() += 1;
    }
    let mut out = format!(
        "cluster {} at {}: {} nodes, {} pods\n\nzone        zone id     nodes  pods\n",
        snapshot.cluster,
        format_time(snapshot.generated_at),
        snapshot.nodes.len(),
        snapshot.pods.len()
    );
    for ((zone, id), (nodes, pods)) in &zones {
        let _ = writeln!(out, "{zone:<11} {id:<11} {nodes:>5} {pods:>5}");
    }
    out += "\npods by kind\n";
    for (kind, n) in &kinds {
        let _ = writeln!(out, "{kind:<24} {n:>6}");
    }
    out
}
