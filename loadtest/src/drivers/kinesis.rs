//! Kinesis `PutRecords`: at most 500 records and 5 MiB per call (data plus partition keys),
//! 1 MiB per record. A call can succeed with some entries failed (`FailedRecordCount`, per-entry
//! `ErrorCode` such as `ProvisionedThroughputExceededException`, in request order); only those
//! entries are retried. Partition key: the record's ENI.

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;

use super::{AwsTarget, CallError, CallOutcome, Entry, Limits};

/// Per-call limits of `PutRecords`.
pub const LIMITS: Limits = Limits {
    records: 500,
    bytes: 5 * 1024 * 1024,
    record_bytes: 1024 * 1024,
};

/// Sends to one data stream.
#[derive(Debug)]
pub struct KinesisSink {
    /// Stream name.
    pub stream: String,
    client: Client,
}

impl KinesisSink {
    /// A sink for `stream`.
    pub async fn new(aws: &AwsTarget, stream: &str) -> Self {
        KinesisSink {
            stream: stream.to_owned(),
            client: Client::new(&aws.sdk_config().await),
        }
    }

    pub(super) async fn send(&self, entries: &[Entry]) -> Result<CallOutcome, CallError> {
        let records = entries
            .iter()
            .map(|e| {
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(e.payload.clone()))
                    .partition_key(&e.key)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CallError {
                code: "InvalidRecord".into(),
                message: super::error_chain(&e),
            })?;
        let response = self
            .client
            .put_records()
            .stream_name(&self.stream)
            .set_records(Some(records))
            .send()
            .await
            .map_err(|e| CallError::sdk("PutRecords", &e))?;
        let mut outcome = CallOutcome::default();
        if response.failed_record_count().unwrap_or(0) == 0 {
            return Ok(outcome);
        }
        let answers = response.records();
        if answers.len() != entries.len() {
            return Err(CallError {
                code: "ResponseMismatch".into(),
                message: format!(
                    "PutRecords reported {:?} failed of {} but returned {} results",
                    response.failed_record_count(),
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
