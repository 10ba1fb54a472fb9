//! The snapshot history that `backfill` and `reprocess` attribute old flows with: the
//! extractor's `history/dt=YYYY-MM-DD-HH/<generated_at>.json.zst` objects (pod-cache
//! [`store`](pod_cache::store)), on S3 (`s3://bucket/snapshots/<cluster>`) or in a local folder
//! with the same layout (`…/snapshots/<cluster>/history/dt=…/`).
//!
//! Flows of an hour are attributed with the newest snapshot generated at or before the hour's
//! last second: it holds every pod that started during the hour, and (retention, design §5) the
//! pods that vanished during it. The S3 lookup is pod-cache's own [`SnapshotStore::load_at`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use pod_cache::index::PodIndex;
use pod_cache::store::{HISTORY_DIR, HISTORY_LOOKBACK_HOURS, SnapshotStore, history_epoch};

use crate::local::s3::{AwsOptions, S3Location, is_s3_uri};
use crate::row::{PARTITION_COLUMN, partition_key};

const HOUR: i64 = 3600;

/// Where the history lives.
enum Backend {
    S3 {
        store: SnapshotStore,
        cluster: String,
        runtime: tokio::runtime::Runtime,
    },
    Local {
        /// The cluster folder (holding `history/`).
        root: PathBuf,
    },
}

/// The snapshot chosen for an hour.
#[derive(Clone)]
pub(super) struct HourSnapshot {
    /// The index built from it.
    pub index: Arc<PodIndex>,
    /// When it was generated (epoch seconds).
    pub generated_at: i64,
}

/// A snapshot history with a per-hour cache.
pub(super) struct History {
    backend: Backend,
    location: String,
    cache: HashMap<i64, Option<HourSnapshot>>,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl History {
    /// Opens `s3://bucket/<prefix>/<cluster>` or a local `<folder>/<cluster>`.
    pub(super) fn open(location: &str, aws: &AwsOptions) -> anyhow::Result<Self> {
        let backend = if is_s3_uri(location) {
            let loc = S3Location::parse(location)?;
            let (prefix, cluster) = match loc.prefix.rsplit_once('/') {
                Some((prefix, cluster)) => (prefix.to_owned(), cluster.to_owned()),
                None => (String::new(), loc.prefix.clone()),
            };
            anyhow::ensure!(
                !cluster.is_empty(),
                "--snapshots {location}: expected s3://bucket/<prefix>/<cluster>"
            );
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let client = runtime.block_on(aws.s3_client());
            Backend::S3 {
                store: SnapshotStore::new(client, loc.bucket, &prefix),
                cluster,
                runtime,
            }
        } else {
            let root = PathBuf::from(location);
            anyhow::ensure!(
                root.join(HISTORY_DIR).is_dir(),
                "--snapshots {location}: no {HISTORY_DIR}/ folder in it (expected <snapshots>/<cluster>)"
            );
            Backend::Local { root }
        };
        Ok(Self {
            backend,
            location: location.to_owned(),
            cache: HashMap::new(),
        })
    }

    /// Where the history is, as given.
    pub(super) fn location(&self) -> &str {
        &self.location
    }

    /// The snapshot for flows starting in the hour that holds `at`: the newest generated at or
    /// before that hour's last second (looking back at most [`HISTORY_LOOKBACK_HOURS`]).
    pub(super) fn for_hour(&mut self, at: i64) -> anyhow::Result<Option<HourSnapshot>> {
        let hour = at.div_euclid(HOUR) * HOUR;
        if let Some(found) = self.cache.get(&hour) {
            return Ok(found.clone());
        }
        let last_second = hour + HOUR - 1;
        let snapshot = match &self.backend {
            Backend::S3 {
                store,
                cluster,
                runtime,
            } => runtime
                .block_on(store.load_at(cluster, last_second))
                .with_context(|| format!("snapshot history {}", self.location))?,
            Backend::Local { root } => load_local(root, last_second)?,
        };
        let found = snapshot.map(|s| HourSnapshot {
            generated_at: s.generated_at,
            index: Arc::new(PodIndex::new(s)),
        });
        self.cache.insert(hour, found.clone());
        Ok(found)
    }
}

/// The newest local history file at or before `at`, same search as the S3 store.
fn load_local(root: &std::path::Path, at: i64) -> anyhow::Result<Option<pod_cache::Snapshot>> {
    for hours_back in 0..=HISTORY_LOOKBACK_HOURS {
        let Some(dt) = partition_key(at - hours_back * HOUR) else {
            break;
        };
        let folder = root
            .join(HISTORY_DIR)
            .join(format!("{PARTITION_COLUMN}={dt}"));
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        let mut best: Option<(i64, PathBuf)> = None;
        for entry in entries {
            let path = entry?.path();
            if let Some(epoch) = history_epoch(&path.to_string_lossy())
                && epoch <= at
                && best.as_ref().is_none_or(|(b, _)| epoch > *b)
            {
                best = Some((epoch, path));
            }
        }
        if let Some((_, path)) = best {
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            return pod_cache::codec::decode(&bytes)
                .map(Some)
                .with_context(|| format!("decoding snapshot {}", path.display()));
        }
    }
    Ok(None)
}
