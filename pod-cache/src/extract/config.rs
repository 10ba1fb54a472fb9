//! The extractor Lambda's configuration: environment variables turned into a validated, typed
//! value once at start. Nothing else in the extractor reads the environment.

use crate::build::DEFAULT_APP_LABEL_KEYS;
use crate::merge::DEFAULT_RETENTION_SECS;
use crate::store::DEFAULT_PREFIX;

/// EKS cluster name (required).
pub const ENV_CLUSTER: &str = "CROSSAZ_CLUSTER";
/// Bucket of the snapshot tree (required).
pub const ENV_BUCKET: &str = "CROSSAZ_SNAPSHOT_BUCKET";
/// Key prefix of the snapshot tree (default [`DEFAULT_PREFIX`]).
pub const ENV_PREFIX: &str = "CROSSAZ_SNAPSHOT_PREFIX";
/// Seconds a vanished pod stays in the snapshot (default [`DEFAULT_RETENTION_SECS`]).
pub const ENV_RETENTION_SECS: &str = "CROSSAZ_RETENTION_SECS";
/// Comma list of pod label keys giving the app name, first present wins
/// (default [`DEFAULT_APP_LABEL_KEYS`]).
pub const ENV_APP_LABEL: &str = "CROSSAZ_APP_LABEL";
/// Comma list of namespaces to list; empty = all.
pub const ENV_NAMESPACES: &str = "CROSSAZ_NAMESPACES";
/// Optional label selector applied to the pod list.
pub const ENV_LABEL_SELECTOR: &str = "CROSSAZ_LABEL_SELECTOR";
/// EKS cluster names: 1-100 characters, alphanumerics, `-` and `_`, starting alphanumeric.
const MAX_CLUSTER_NAME_LEN: usize = 100;

/// Validated extractor settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractorConfig {
    /// Cluster name (also the `x-k8s-aws-id` of the token and the key component in S3).
    pub cluster: String,
    /// Snapshot bucket.
    pub bucket: String,
    /// Snapshot key prefix.
    pub prefix: String,
    /// Retention of vanished pods.
    pub retention_secs: i64,
    /// App label keys.
    pub app_label_keys: Vec<String>,
    /// Namespaces to list; empty = all.
    pub namespaces: Vec<String>,
    /// Pod label selector.
    pub label_selector: Option<String>,
}

/// A missing or invalid setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("{var} is required")]
    Missing {
        /// Variable name.
        var: &'static str,
    },
    /// A variable has a value that cannot be used.
    #[error("{var}={value:?} is invalid: {reason}")]
    Invalid {
        /// Variable name.
        var: &'static str,
        /// Raw value.
        value: String,
        /// Why it is refused.
        reason: &'static str,
    },
}

/// Splits a comma list, trimming blanks and dropping empty entries.
pub fn comma_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether `name` is a valid EKS cluster name.
pub fn is_valid_cluster_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_CLUSTER_NAME_LEN
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Whether `name` is a valid namespace (RFC 1123 label).
fn is_valid_namespace(name: &str) -> bool {
    name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl ExtractorConfig {
    /// Reads and validates the settings through `var` (e.g. `|k| std::env::var(k).ok()`).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let cluster = get(ENV_CLUSTER).ok_or(ConfigError::Missing { var: ENV_CLUSTER })?;
        if !is_valid_cluster_name(&cluster) {
            return Err(ConfigError::Invalid {
                var: ENV_CLUSTER,
                value: cluster,
                reason: "an EKS cluster name has 1-100 letters, digits, '-' or '_'",
            });
        }
        let bucket = get(ENV_BUCKET).ok_or(ConfigError::Missing { var: ENV_BUCKET })?;
        if bucket.contains('/') || bucket.starts_with("s3:") {
            return Err(ConfigError::Invalid {
                var: ENV_BUCKET,
                value: bucket,
                reason: "give the bucket name only, not a URL or path",
            });
        }
        let prefix = get(ENV_PREFIX).unwrap_or_else(|| DEFAULT_PREFIX.to_owned());
        let retention_secs = match get(ENV_RETENTION_SECS) {
            None => DEFAULT_RETENTION_SECS,
            Some(raw) => match raw.parse::<i64>() {
                Ok(secs) if secs >= 0 => secs,
                _ => {
                    return Err(ConfigError::Invalid {
                        var: ENV_RETENTION_SECS,
                        value: raw,
                        reason: "expected a whole number of seconds >= 0",
                    });
                }
            },
        };
        let app_label_keys = match get(ENV_APP_LABEL) {
            Some(raw) => comma_list(&raw),
            None => DEFAULT_APP_LABEL_KEYS.map(str::to_owned).to_vec(),
        };
        let namespaces = get(ENV_NAMESPACES)
            .map(|raw| comma_list(&raw))
            .unwrap_or_default();
        if let Some(bad) = namespaces.iter().find(|ns| !is_valid_namespace(ns)) {
            return Err(ConfigError::Invalid {
                var: ENV_NAMESPACES,
                value: bad.clone(),
                reason: "not a Kubernetes namespace name",
            });
        }
        Ok(Self {
            cluster,
            bucket,
            prefix,
            retention_secs,
            app_label_keys,
            namespaces,
            label_selector: get(ENV_LABEL_SELECTOR),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<ExtractorConfig, ConfigError> {
        ExtractorConfig::from_env(|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn defaults_apply_when_only_required_vars_are_set() {
        let got = config(&[(ENV_CLUSTER, "prod"), (ENV_BUCKET, "b")]).expect("valid");
        assert_eq!(
            got,
            ExtractorConfig {
                cluster: "prod".into(),
                bucket: "b".into(),
                prefix: "snapshots/".into(),
                retention_secs: DEFAULT_RETENTION_SECS,
                app_label_keys: vec![
                    "app.kubernetes.io/name".into(),
                    "app".into(),
                    "k8s-app".into()
                ],
                namespaces: vec![],
                label_selector: None,
            }
        );
    }

    #[test]
    fn lists_and_numbers_are_parsed() {
        let got = config(&[
            (ENV_CLUSTER, "prod_2"),
            (ENV_BUCKET, "b"),
            (ENV_PREFIX, "x/"),
            (ENV_RETENTION_SECS, "7200"),
            (ENV_APP_LABEL, " app , team,"),
            (ENV_NAMESPACES, "shop, kube-system"),
            (ENV_LABEL_SELECTOR, "tier=web"),
        ])
        .expect("valid");
        assert_eq!(got.prefix, "x/");
        assert_eq!(got.retention_secs, 7200);
        assert_eq!(got.app_label_keys, ["app", "team"]);
        assert_eq!(got.namespaces, ["shop", "kube-system"]);
        assert_eq!(got.label_selector.as_deref(), Some("tier=web"));
    }

    #[test]
    fn invalid_settings_are_named() {
        let cases: [(&[(&str, &str)], &str); 6] = [
            (&[(ENV_BUCKET, "b")], "CROSSAZ_CLUSTER is required"),
            (
                &[(ENV_CLUSTER, "prod")],
                "CROSSAZ_SNAPSHOT_BUCKET is required",
            ),
            (
                &[(ENV_CLUSTER, "-bad"), (ENV_BUCKET, "b")],
                "CROSSAZ_CLUSTER=\"-bad\" is invalid",
            ),
            (
                &[(ENV_CLUSTER, "p"), (ENV_BUCKET, "s3://b")],
                "CROSSAZ_SNAPSHOT_BUCKET=\"s3://b\" is invalid",
            ),
            (
                &[
                    (ENV_CLUSTER, "p"),
                    (ENV_BUCKET, "b"),
                    (ENV_RETENTION_SECS, "-1"),
                ],
                "CROSSAZ_RETENTION_SECS=\"-1\" is invalid",
            ),
            (
                &[
                    (ENV_CLUSTER, "p"),
                    (ENV_BUCKET, "b"),
                    (ENV_NAMESPACES, "ok,Bad_NS"),
                ],
                "CROSSAZ_NAMESPACES=\"Bad_NS\" is invalid",
            ),
        ];
        for (vars, expected) in cases {
            let err = config(vars).expect_err(expected).to_string();
            assert!(err.starts_with(expected), "{err}");
        }
    }
}
