//! The pod-IP snapshot that every crossaz processor attributes flows with.
//!
//! This crate owns the snapshot document (`snapshot`), its construction from Kubernetes objects
//! (`build`), merging successive observations (`merge`), the immutable time-aware lookup index
//! (`index`) and, behind features, the S3 store and the extractor. The core modules are pure:
//! no I/O, clock or async; callers pass times in.

pub mod build;
pub mod codec;
#[cfg(feature = "extractor")]
pub mod extract;
pub mod index;
pub mod merge;
pub mod snapshot;
#[cfg(feature = "s3")]
pub mod store;

pub use build::{BuildOptions, BuildStats, SkippedObject, build_snapshot};
pub use codec::{decode, encode};
pub use index::{Endpoint, PodIndex};
pub use merge::merge;
pub use snapshot::{NodeInfo, PodInfo, Snapshot, WorkloadKind};
