//! Connecting to an EKS cluster from a Lambda, without the AWS CLI or a kubeconfig file.
//!
//! Owns the IAM bearer token (aws-facts §9.1: `k8s-aws-v1.` + base64url of a SigV4-presigned STS
//! `GetCallerIdentity` URL that signs the `x-k8s-aws-id` header), its refresh before the
//! 15-minute validity runs out, and the endpoint/CA lookup with `eks:DescribeCluster` (§9.2).
//! Token signing is a pure function of credentials, region, cluster and time; the clock and the
//! AWS calls stay in the thin functions at the bottom.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kube::client::ClientBuilder;

/// Every EKS token starts with this.
pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";
/// Signed header carrying the cluster name, so a token is valid for one cluster only.
pub const CLUSTER_ID_HEADER: &str = "x-k8s-aws-id";
/// `X-Amz-Expires` of the presigned URL; STS ignores it, aws-iam-authenticator expects 60.
pub const PRESIGN_EXPIRES: Duration = Duration::from_mins(1);
/// A token is accepted for 15 minutes after `X-Amz-Date`; client-go and aws-iam-authenticator
/// refresh after 14 so a request in flight never carries an expired one.
pub const TOKEN_REFRESH_AFTER: Duration = Duration::from_mins(14);
const STS_QUERY: &str = "?Action=GetCallerIdentity&Version=2011-06-15";

/// Why the extractor could not authenticate to EKS.
#[derive(Debug, thiserror::Error)]
pub enum EksAuthError {
    /// SigV4 presigning failed (bad parameters).
    #[error("presigning the STS GetCallerIdentity URL for cluster {cluster} failed: {detail}")]
    Sign {
        /// Cluster the token was for.
        cluster: String,
        /// Signer error.
        detail: String,
    },
    /// No AWS credentials could be resolved.
    #[error("no AWS credentials for the EKS token: {detail}")]
    Credentials {
        /// Provider error.
        detail: String,
    },
    /// `eks:DescribeCluster` failed.
    #[error("eks:DescribeCluster {cluster} failed: {detail}")]
    Describe {
        /// Cluster name.
        cluster: String,
        /// The SDK error with its context.
        detail: String,
    },
    /// The cluster is not in a state that serves the API, or lacks endpoint/CA.
    #[error("EKS cluster {cluster} cannot be used: {reason}")]
    Unusable {
        /// Cluster name.
        cluster: String,
        /// What is missing or wrong.
        reason: String,
    },
    /// kube-rs refused the generated configuration.
    #[error("building the Kubernetes client for {cluster} failed: {detail}")]
    Client {
        /// Cluster name.
        cluster: String,
        /// kube-rs error.
        detail: String,
    },
}

/// Regional STS endpoint (aws-facts §9.1: use the regional endpoint, not the global one).
pub fn sts_endpoint(region: &str) -> String {
    let domain = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://sts.{region}.{domain}/")
}

/// The bearer token for `cluster`, signed with `credentials` at time `at`.
pub fn presign_token(
    credentials: &Credentials,
    region: &str,
    cluster: &str,
    at: SystemTime,
) -> Result<String, EksAuthError> {
    let sign_error = |detail: String| EksAuthError::Sign {
        cluster: cluster.to_owned(),
        detail,
    };
    let url = format!("{}{STS_QUERY}", sts_endpoint(region));
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(PRESIGN_EXPIRES);
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(at)
        .settings(settings)
        .build()
        .map_err(|e| sign_error(e.to_string()))?
        .into();
    let headers = [(CLUSTER_ID_HEADER, cluster)];
    let signable = SignableRequest::new(
        "GET",
        url.as_str(),
        headers.into_iter(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| sign_error(e.to_string()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| sign_error(e.to_string()))?
        .into_parts();
    let mut request = http::Request::get(&url)
        .body(())
        .map_err(|e| sign_error(e.to_string()))?;
    instructions.apply_to_request_http1x(&mut request);
    Ok(format!(
        "{TOKEN_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(request.uri().to_string())
    ))
}

/// Current credentials and the last token, shared by every request of a client.
///
/// Credentials are replaced at the start of each run (the SDK provider caches and refreshes
/// them); the token is re-signed on the first request after [`TOKEN_REFRESH_AFTER`].
#[derive(Debug)]
pub struct TokenSource {
    cluster: String,
    region: String,
    state: Mutex<TokenState>,
}

#[derive(Debug)]
struct TokenState {
    credentials: Credentials,
    token: Option<(String, SystemTime)>,
}

impl TokenSource {
    /// A source for `cluster` in `region`, signing with `credentials` until replaced.
    pub fn new(cluster: &str, region: &str, credentials: Credentials) -> Self {
        Self {
            cluster: cluster.to_owned(),
            region: region.to_owned(),
            state: Mutex::new(TokenState {
                credentials,
                token: None,
            }),
        }
    }

    /// Replaces the signing credentials; if they differ, the next token is signed with them.
    pub fn set_credentials(&self, credentials: Credentials) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.credentials != credentials {
            state.credentials = credentials;
            state.token = None;
        }
    }

    /// A token valid at `now`: the cached one while younger than [`TOKEN_REFRESH_AFTER`].
    pub fn token_at(&self, now: SystemTime) -> Result<String, EksAuthError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((token, signed_at)) = &state.token {
            let age = now.duration_since(*signed_at).unwrap_or(Duration::MAX);
            if age < TOKEN_REFRESH_AFTER {
                return Ok(token.clone());
            }
        }
        let token = presign_token(&state.credentials, &self.region, &self.cluster, now)?;
        state.token = Some((token.clone(), now));
        Ok(token)
    }
}

/// Where and how to reach an EKS API server (from `eks:DescribeCluster`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterEndpoint {
    /// Cluster name.
    pub name: String,
    /// `https://…eks.amazonaws.com` (any URL in tests).
    pub endpoint: String,
    /// `certificateAuthority.data`: base64 of the PEM CA bundle; `None` for plain-HTTP tests.
    pub ca_data: Option<String>,
}

/// EKS statuses in which the API server answers.
const SERVING_STATUSES: [&str; 2] = ["ACTIVE", "UPDATING"];

/// Looks up endpoint and CA of `cluster`.
pub async fn describe_cluster(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
) -> Result<ClusterEndpoint, EksAuthError> {
    let output = eks
        .describe_cluster()
        .name(cluster)
        .send()
        .await
        .map_err(|err| EksAuthError::Describe {
            cluster: cluster.to_owned(),
            detail: aws_sdk_eks::error::DisplayErrorContext(&err).to_string(),
        })?;
    let unusable = |reason: String| EksAuthError::Unusable {
        cluster: cluster.to_owned(),
        reason,
    };
    let info = output
        .cluster()
        .ok_or_else(|| unusable("DescribeCluster returned no cluster".into()))?;
    let status = info.status().map(|s| s.as_str().to_owned());
    if !status
        .as_deref()
        .is_some_and(|s| SERVING_STATUSES.contains(&s))
    {
        return Err(unusable(format!("status is {status:?}, not ACTIVE")));
    }
    let endpoint = info
        .endpoint()
        .ok_or_else(|| unusable("no endpoint".into()))?;
    let ca_data = info
        .certificate_authority()
        .and_then(|ca| ca.data())
        .ok_or_else(|| unusable("no certificateAuthority.data".into()))?;
    Ok(ClusterEndpoint {
        name: cluster.to_owned(),
        endpoint: endpoint.to_owned(),
        ca_data: Some(ca_data.to_owned()),
    })
}

/// Resolves the current credentials of the SDK config.
pub async fn current_credentials(
    config: &aws_config::SdkConfig,
) -> Result<Credentials, EksAuthError> {
    use aws_credential_types::provider::ProvideCredentials as _;
    let provider = config
        .credentials_provider()
        .ok_or_else(|| EksAuthError::Credentials {
            detail: "the SDK config has no credentials provider".into(),
        })?;
    provider
        .provide_credentials()
        .await
        .map_err(|err| EksAuthError::Credentials {
            detail: aws_sdk_eks::error::DisplayErrorContext(&err).to_string(),
        })
}

/// A kube client for `endpoint` whose every request carries a fresh bearer token from `tokens`.
pub async fn eks_client(
    endpoint: &ClusterEndpoint,
    tokens: Arc<TokenSource>,
) -> Result<kube::Client, EksAuthError> {
    let client_error = |detail: String| EksAuthError::Client {
        cluster: endpoint.name.clone(),
        detail,
    };
    let mut cluster = serde_json::json!({ "server": endpoint.endpoint });
    if let Some(ca) = &endpoint.ca_data {
        cluster["certificate-authority-data"] = serde_json::Value::String(ca.clone());
    }
    // An in-memory kubeconfig: kube-rs then parses the CA exactly as for a file.
    let kubeconfig: kube::config::Kubeconfig = serde_json::from_value(serde_json::json!({
        "clusters": [{ "name": endpoint.name, "cluster": cluster }],
        "users": [{ "name": "crossaz-extractor", "user": {} }],
        "contexts": [{
            "name": endpoint.name,
            "context": { "cluster": endpoint.name, "user": "crossaz-extractor" }
        }],
        "current-context": endpoint.name,
    }))
    .map_err(|e| client_error(e.to_string()))?;
    let mut config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .map_err(|e| client_error(e.to_string()))?;
    // The lister retries 429/5xx itself, with bounds it counts and reports.
    config.default_retry = false;
    let authorize =
        tower::filter::FilterLayer::new(move |mut request: http::Request<kube::client::Body>| {
            let token = tokens.token_at(SystemTime::now())?;
            let value = http::HeaderValue::try_from(format!("Bearer {token}"))?;
            request
                .headers_mut()
                .insert(http::header::AUTHORIZATION, value);
            Ok::<_, tower::BoxError>(request)
        });
    super::install_crypto_provider();
    let builder = ClientBuilder::try_from(config).map_err(|e| client_error(e.to_string()))?;
    Ok(builder.with_layer(&authorize).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials() -> Credentials {
        Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("SESSIONTOKEN/EXAMPLE+=".into()),
            None,
            "test",
        )
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn decoded_url(token: &str) -> String {
        let body = token.strip_prefix(TOKEN_PREFIX).expect("prefix");
        assert!(!body.contains('='), "no padding: {body}");
        assert!(
            !body.contains('+') && !body.contains('/'),
            "url-safe: {body}"
        );
        String::from_utf8(URL_SAFE_NO_PAD.decode(body).expect("base64url")).expect("utf8")
    }

    #[test]
    fn sts_endpoints_are_regional() {
        for (region, url) in [
            ("us-east-1", "https://sts.us-east-1.amazonaws.com/"),
            ("eu-west-3", "https://sts.eu-west-3.amazonaws.com/"),
            ("cn-north-1", "https://sts.cn-north-1.amazonaws.com.cn/"),
        ] {
            assert_eq!(sts_endpoint(region), url);
        }
    }

    /// Presigned URL for the inputs of `token_matches_the_known_answer`, produced independently
    /// by botocore's `SigV4QueryAuth` (the signer behind `aws eks get-token`) with the clock
    /// fixed; script in `tests/support/eks_token_known_answer.py`.
    const BOTOCORE_URL: &str = "https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20260101%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Security-Token=SESSIONTOKEN%2FEXAMPLE%2B%3D&X-Amz-Signature=de0ded15c90b78f80c55a27e419a568cb4c70935a215e79669793620b4d39edb";

    /// Base URL and sorted `name=value` pairs: parameter order carries no meaning to STS.
    fn url_parts(url: &str) -> (&str, Vec<&str>) {
        let (base, query) = url.split_once('?').expect("query");
        let mut pairs: Vec<&str> = query.split('&').collect();
        pairs.sort_unstable();
        (base, pairs)
    }

    #[test]
    fn token_matches_the_known_answer() {
        // 2026-01-01T00:00:00Z.
        let token =
            presign_token(&credentials(), "us-east-1", "demo", at(1_767_225_600)).expect("token");
        assert_eq!(url_parts(&decoded_url(&token)), url_parts(BOTOCORE_URL));
    }

    #[test]
    fn token_has_only_the_allowed_query_parameters() {
        let token =
            presign_token(&credentials(), "eu-west-1", "prod", at(1_767_225_600)).expect("token");
        let url = decoded_url(&token);
        let (base, query) = url.split_once('?').expect("query");
        assert_eq!(base, "https://sts.eu-west-1.amazonaws.com/");
        let mut names: Vec<&str> = query
            .split('&')
            .map(|kv| kv.split_once('=').map_or(kv, |(k, _)| k))
            .collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "Action",
                "Version",
                "X-Amz-Algorithm",
                "X-Amz-Credential",
                "X-Amz-Date",
                "X-Amz-Expires",
                "X-Amz-Security-Token",
                "X-Amz-Signature",
                "X-Amz-SignedHeaders",
            ]
        );
        for expected in [
            "Action=GetCallerIdentity",
            "Version=2011-06-15",
            "X-Amz-Expires=60",
            "X-Amz-SignedHeaders=host%3Bx-k8s-aws-id",
            "X-Amz-Date=20260101T000000Z",
            "X-Amz-Credential=AKIDEXAMPLE%2F20260101%2Feu-west-1%2Fsts%2Faws4_request",
        ] {
            assert!(
                query.split('&').any(|kv| kv == expected),
                "{expected} in {query}"
            );
        }
    }

    #[test]
    fn token_source_refreshes_after_fourteen_minutes() {
        let source = TokenSource::new("demo", "us-east-1", credentials());
        let t0 = 1_767_225_600;
        let first = source.token_at(at(t0)).expect("token");
        let cases = [
            (t0 + 60, true),
            (t0 + 14 * 60 - 1, true),
            (t0 + 14 * 60, false),
        ];
        for (now, same) in cases {
            let token = source.token_at(at(now)).expect("token");
            assert_eq!(token == first, same, "at +{}s", now - t0);
        }
        // After a refresh the new token is cached in turn, and new credentials force a re-sign.
        let refreshed = source.token_at(at(t0 + 14 * 60 + 5)).expect("token");
        assert_ne!(refreshed, first);
        source.set_credentials(credentials());
        assert_eq!(
            source.token_at(at(t0 + 14 * 60 + 6)).expect("token"),
            refreshed
        );
        source.set_credentials(Credentials::new("AKIDOTHER", "secret", None, None, "t"));
        let resigned = source.token_at(at(t0 + 14 * 60 + 5)).expect("token");
        assert!(decoded_url(&resigned).contains("X-Amz-Credential=AKIDOTHER"));
        assert!(!decoded_url(&resigned).contains("X-Amz-Security-Token"));
    }
}
