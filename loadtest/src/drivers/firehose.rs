//! Firehose `PutRecordBatch` (DirectPut, as VPC Flow Logs deliver): at most 500 records and
//! 4 MiB per call, 1,000 KiB per record (aws-facts §1.5). A call can succeed with some entries
//! failed: `FailedPutCount` says how many and each `RequestResponses` entry (in request order)
//! carries an `ErrorCode`; only those entries are retried.

use aws_sdk_firehose::Client;
use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;

use super::{AwsTarget, CallError, CallOutcome, Entry, Limits};

/// Per-call limits of `PutRecordBatch`.
pub const LIMITS: Limits = Limits {
    records: 500,
    bytes: 4 * 1024 * 1024,
    record_bytes: 1000 * 1024,
};

/// Sends to one delivery stream.
#[derive(Debug)]
pub struct FirehoseSink {
    /// Delivery stream name.
    pub stream: String,
    client: Client,
}

impl FirehoseSink {
    /// A sink for `stream`.
    pub async fn new(aws: &AwsTarget, stream: &str) -> Self {
        FirehoseSink {
            stream: stream.to_owned(),
            client: Client::new(&aws.sdk_config().await),
        }
    }

    pub(super) async fn send(&self, entries: &[Entry]) -> Result<CallOutcome, CallError> {
        let records = entries
            .iter()
            .map(|e| Record::builder().data(Blob::new(e.payload.clone())).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CallError {
                code: "InvalidRecord".into(),
                message: super::error_chain(&e),
            })?;
        let response = self
            .client
            .put_record_batch()
            .delivery_stream_name(&self.stream)
            .set_records(Some(records))
            .send()
            .await
            .map_err(|e| CallError::sdk("PutRecordBatch", &e))?;
        let mut outcome = CallOutcome::default();
        if response.failed_put_count() == 0 {
            return Ok(outcome);
        }
        let answers = response.request_responses();
        if answers.len() != entries.len() {
            return Err(CallError {
                code: "ResponseMismatch".into(),
                message: format!(
                    "PutRecordBatch reported {} failed of {} but returned {} responses",
                    response.failed_put_count(),
                    entries.len(),
                    answers.len()
                ),
            });
        }
        for (i, answer) in answers.iter().enumerate() {
            if let Some(code) = answer.error_code() {
                outcome.failed.push((
                    i,
                    code.to_owned(),
                    answer.error_message().unwrap_or_default().to_owned(),
                ));
            }
        }
        Ok(outcome)
    }
}
