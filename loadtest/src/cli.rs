//! Command-line pieces shared by `crossaz-loadtest` and `crossaz loadtest` (feature `cli`): the
//! generator's options, the `drive` options, and running a transport drive end to end (generate,
//! drive, read the destination back, write `truth.json` and `report.json`, print the report).
//! The in-process driver is the processor's (it needs the core); it reuses these options.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result, bail};
use clap::ValueEnum;

use crate::drivers::{
    self, Arrival, AwsTarget, DriveOptions, DriveRun, Transport, arrival, files::FileSink,
    firehose::FirehoseSink, kinesis::KinesisSink, lambda::LambdaSink,
};
use crate::output::write_json;
use crate::{Cluster, ClusterSpec, TrafficSpec, generate_cluster, parse_format};

/// Default window start: 2026-01-01T00:00:00Z. Fixed, so a run never depends on the clock.
pub const DEFAULT_START: i64 = 1_767_225_600;

/// What to generate: the cluster and its traffic.
#[derive(Debug, Clone, clap::Args)]
pub struct SpecArgs {
    /// Seed of the cluster and of the traffic.
    #[arg(long, default_value_t = crate::spec::DEFAULT_SEED)]
    pub seed: u64,
    /// Hours of traffic.
    #[arg(long, default_value_t = 1)]
    pub hours: i64,
    /// Window start (epoch seconds).
    #[arg(long, default_value_t = DEFAULT_START)]
    pub start: i64,
    /// Flow-log format: `${a} ${b} ...` or `a b ...`.
    #[arg(long, default_value = crate::RECOMMENDED_FORMAT)]
    pub format: String,
    /// Conversations per minute.
    #[arg(long, default_value_t = crate::spec::DEFAULT_FLOWS_PER_MINUTE)]
    pub flows_per_minute: usize,
    /// Share of conversations between zones.
    #[arg(long, default_value_t = crate::spec::DEFAULT_CROSS_AZ_SHARE)]
    pub cross_az_share: f64,
    /// Flow-log aggregation interval (60 or 600).
    #[arg(long, default_value_t = crate::spec::DEFAULT_AGGREGATION_SECS)]
    pub aggregation_secs: i64,
    /// Worker nodes.
    #[arg(long)]
    pub nodes: Option<usize>,
    /// Availability Zones.
    #[arg(long)]
    pub zones: Option<usize>,
    /// Deployments.
    #[arg(long)]
    pub deployments: Option<usize>,
}

impl SpecArgs {
    /// End of the window (epoch seconds).
    pub fn end(&self) -> i64 {
        self.start + self.hours * 3600
    }

    /// The cluster spec.
    pub fn cluster_spec(&self) -> ClusterSpec {
        let defaults = ClusterSpec::default();
        ClusterSpec {
            seed: self.seed,
            nodes: self.nodes.unwrap_or(defaults.nodes),
            zones: self.zones.unwrap_or(defaults.zones),
            deployments: self.deployments.unwrap_or(defaults.deployments),
            ..defaults
        }
    }

    /// The cluster over the window.
    pub fn cluster(&self) -> Result<Cluster> {
        generate_cluster(&self.cluster_spec(), self.start, self.end()).context("cluster spec")
    }

    /// The traffic spec.
    pub fn traffic(&self) -> TrafficSpec {
        TrafficSpec {
            seed: self.seed,
            flows_per_minute: self.flows_per_minute,
            cross_az_share: self.cross_az_share,
            aggregation_secs: self.aggregation_secs,
            format: parse_format(&self.format),
            ..TrafficSpec::new(self.start, self.hours * 3600)
        }
    }
}

/// `nodes.json`, `pods-start.json`, `pods-end.json` and `format.txt` under `out`: what a
/// snapshot of the cluster is built from, and the format the lines use.
pub fn write_cluster_files(out: &Path, cluster: &Cluster, spec: &SpecArgs) -> Result<()> {
    write_json(&out.join("nodes.json"), &cluster.nodes_json())?;
    write_json(&out.join("pods-start.json"), &cluster.pods_json(spec.start))?;
    write_json(&out.join("pods-end.json"), &cluster.pods_json(spec.end()))?;
    let format = crate::LineFormat::new(&parse_format(&spec.format)).log_format() + "\n";
    std::fs::write(out.join("format.txt"), format)
        .with_context(|| format!("cannot write {}", out.join("format.txt").display()))
}

/// Which path the records take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DriverKind {
    /// The core in-process, as fast as it goes (`crossaz loadtest drive` only).
    InProcess,
    /// Firehose `PutRecordBatch` to `--stream`.
    Firehose,
    /// Kinesis `PutRecords` to `--stream`.
    Kinesis,
    /// Delivery-layout `.log.gz` files into the folder `--dest`.
    Files,
    /// Delivery-layout `.log.gz` objects under `--dest s3://bucket/prefix`.
    S3,
    /// Firehose transform events invoked on the function `--function`.
    Lambda,
}

/// `drive`: generated records through one path, with a report.
#[derive(Debug, Clone, clap::Args)]
pub struct DriveArgs {
    /// The path.
    #[arg(long, value_enum)]
    pub driver: DriverKind,
    /// Firehose delivery stream or Kinesis stream name.
    #[arg(long)]
    pub stream: Option<String>,
    /// Lambda function name or ARN (with `--endpoint-url http://127.0.0.1:9000` for
    /// `cargo lambda watch`).
    #[arg(long)]
    pub function: Option<String>,
    /// Destination of files/s3 (a folder or `s3://bucket/prefix`), or of the in-process
    /// driver's Parquet (default: none, the rows are only counted).
    #[arg(long)]
    pub dest: Option<String>,
    /// Folder for truth.json, report.json and the cluster's nodes/pods JSON.
    #[arg(long)]
    pub out: PathBuf,
    /// What to generate.
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Target records per second (default: as fast as it goes).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Stop after this many seconds.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Stop after this many records.
    #[arg(long)]
    pub records: Option<u64>,
    /// Calls in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Retries of failed entries (and failed calls) before giving up on them.
    #[arg(long, default_value_t = 5)]
    pub retries: u32,
    /// No progress line.
    #[arg(long)]
    pub quiet: bool,
    /// Where Firehose delivers (`s3://bucket/prefix`): count the records that arrived there.
    /// Kinesis, files and s3 drives are always read back.
    #[arg(long)]
    pub check_arrival: Option<String>,
    /// How long to wait for everything sent to arrive.
    #[arg(long, default_value_t = 60.0)]
    pub arrival_timeout: f64,
    /// Custom AWS endpoint (moto, `cargo lambda watch`); implies path-style S3.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// AWS region.
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
}

impl DriveArgs {
    /// The pacing and bounds.
    pub fn options(&self) -> Result<DriveOptions> {
        let duration = self
            .duration
            .map(|d| {
                Duration::try_from_secs_f64(d).context("--duration must be non-negative seconds")
            })
            .transpose()?;
        let options = DriveOptions {
            rate: self.rate,
            duration,
            max_records: self.records,
            concurrency: self.concurrency,
            max_retries: self.retries,
            progress: (!self.quiet).then_some(Duration::from_secs(1)),
            ..DriveOptions::default()
        };
        options.validate()?;
        Ok(options)
    }

    /// The AWS endpoint and region.
    pub fn aws(&self) -> AwsTarget {
        AwsTarget {
            endpoint_url: self.endpoint_url.clone(),
            region: self.region.clone(),
            static_credentials: None,
        }
    }

    fn need<'a>(&self, value: Option<&'a String>, flag: &str) -> Result<&'a str> {
        match value {
            Some(v) if !v.is_empty() => Ok(v),
            _ => bail!("--driver {:?} needs {flag}", self.driver),
        }
    }
}

/// `s3://bucket/prefix` as (bucket, prefix without surrounding slashes).
pub fn split_s3(uri: &str) -> Result<(String, String)> {
    let rest = uri
        .strip_prefix("s3://")
        .with_context(|| format!("{uri:?} is not s3://bucket[/prefix]"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        bail!("{uri:?} has no bucket");
    }
    Ok((bucket.to_owned(), prefix.trim_matches('/').to_owned()))
}

/// Writes `truth.json` and `report.json` under `out` and prints the report to stdout.
pub fn finish(out: &Path, run: &DriveRun) -> Result<ExitCode> {
    write_json(&out.join("truth.json"), &run.truth)?;
    write_json(&out.join("report.json"), &run.report)?;
    print!("{}", run.report);
    println!(
        "wrote {} and {}",
        out.join("truth.json").display(),
        out.join("report.json").display()
    );
    Ok(if run.report.complete() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs a transport drive (every driver but in-process).
pub fn run_drive(args: &DriveArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let run = runtime.block_on(drive_transport(args))?;
    finish(&args.out, &run)
}

/// Generates, drives through the transport `args` name, and reads the destination back.
pub async fn drive_transport(args: &DriveArgs) -> Result<DriveRun> {
    let cluster = args.spec.cluster()?;
    write_cluster_files(&args.out, &cluster, &args.spec)?;
    let aws = args.aws();
    let seed = args.spec.seed;
    let transport = match args.driver {
        DriverKind::InProcess => {
            bail!(
                "the in-process driver runs the core: use `crossaz loadtest drive --driver in-process`"
            )
        }
        DriverKind::Firehose => Transport::Firehose(
            FirehoseSink::new(&aws, args.need(args.stream.as_ref(), "--stream")?).await,
        ),
        DriverKind::Kinesis => Transport::Kinesis(
            KinesisSink::new(&aws, args.need(args.stream.as_ref(), "--stream")?).await,
        ),
        DriverKind::Lambda => Transport::Lambda(
            LambdaSink::new(&aws, args.need(args.function.as_ref(), "--function")?).await,
        ),
        DriverKind::Files => Transport::Files(FileSink::folder(
            PathBuf::from(args.need(args.dest.as_ref(), "--dest")?),
            seed,
        )),
        DriverKind::S3 => {
            let (bucket, prefix) = split_s3(args.need(args.dest.as_ref(), "--dest")?)?;
            Transport::Files(FileSink::s3(&aws, &bucket, &prefix, seed).await)
        }
    };
    // Kinesis timestamps have millisecond precision; start a little before the first put.
    let since = SystemTime::now() - Duration::from_secs(1);
    let mut run =
        drivers::drive(&cluster, &args.spec.traffic(), transport, &args.options()?).await?;
    let timeout = Duration::try_from_secs_f64(args.arrival_timeout).unwrap_or(Duration::ZERO);
    let sent = run.report.sent;
    let arrived: Result<Option<Arrival>> = async {
        Ok(match args.driver {
            DriverKind::Kinesis => {
                let stream = args.need(args.stream.as_ref(), "--stream")?;
                Some(
                    arrival::wait_for(sent, timeout, || {
                        arrival::kinesis_records(&aws, stream, Some(since))
                    })
                    .await?,
                )
            }
            DriverKind::Files => {
                let root = PathBuf::from(args.need(args.dest.as_ref(), "--dest")?);
                Some(arrival::folder_records(&root)?)
            }
            DriverKind::S3 => {
                let (bucket, prefix) = split_s3(args.need(args.dest.as_ref(), "--dest")?)?;
                Some(arrival::s3_records(&aws, &bucket, &prefix).await?)
            }
            DriverKind::Firehose => match &args.check_arrival {
                Some(uri) => {
                    let (bucket, prefix) = split_s3(uri)?;
                    Some(
                        arrival::wait_for(sent, timeout, || {
                            arrival::s3_records(&aws, &bucket, &prefix)
                        })
                        .await?,
                    )
                }
                None => None,
            },
            DriverKind::Lambda | DriverKind::InProcess => None,
        })
    }
    .await;
    match arrived {
        Ok(arrived) => run.report.arrived = arrived,
        // What was sent is still reported; the failed check makes the run incomplete.
        Err(e) => {
            run.report
                .errors
                .insert(drivers::ARRIVAL_CHECK.to_owned(), 1);
            run.report
                .error_samples
                .push(format!("reading the destination back: {e:#}"));
        }
    }
    Ok(run)
}
