//! Synthetic clusters and flow records with exact ground truth (filled in by the load-test issue).
