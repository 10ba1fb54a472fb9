//! The pod-IP snapshot that every crossaz processor attributes flows with.
//!
//! This crate owns the snapshot document (`snapshot`), its construction from Kubernetes objects
//! (`build`), merging successive observations (`merge`), the immutable time-aware lookup index
//! (`index`) and, behind features, the S3 store and the extractor. The core modules are pure:
//! no I/O, clock or async; callers pass times in.

pub mod snapshot;

pub use snapshot::{NodeInfo, PodInfo, Snapshot, WorkloadKind};
