//! Firehose transform events posted to a running `crossaz-transform` through the Lambda Invoke
//! API (`POST /2015-03-31/functions/{name}/invocations`: a deployed function, or
//! `cargo lambda watch`'s emulator via the endpoint URL). Each call is one event of about 1 MB
//! of record data (the transform's Lambda buffer, aws-facts §1.4), records framed
//! `{"message":"<line>"}`.
//!
//! The response is checked as Firehose checks it (aws-facts §1.2, §1.3): every `recordId` back
//! exactly once, no unknown one, `result` one of `Ok`/`Dropped`/`ProcessingFailed`, under 6 MB.
//! A violation or a function error fails the call (retried whole, as Firehose retries the
//! invocation); results are counted per kind, with the rows inside the `Ok` data.

use std::collections::HashMap;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::{AwsTarget, CallError, CallOutcome, Entry, Limits};
use crate::cluster::REGION;
use crate::output::{DELIVERY_STREAM_ARN, FIREHOSE_EVENT_BYTES};

/// One event per call of about 1 MB of record data, base64 then inflating it to ~1.4 MB.
pub const LIMITS: Limits = Limits {
    records: usize::MAX,
    bytes: FIREHOSE_EVENT_BYTES,
    record_bytes: FIREHOSE_EVENT_BYTES,
};
/// A synchronous invocation's response limit.
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

/// Invokes one function.
#[derive(Debug)]
pub struct LambdaSink {
    /// Function name (or ARN).
    pub function: String,
    client: Client,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    records: Vec<ResponseRecord>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResponseRecord {
    record_id: String,
    result: String,
    #[serde(default)]
    data: String,
}

/// The recordId of entry `id`: digits only, like Firehose's (aws-facts §1.1).
pub fn record_id(id: u64) -> String {
    format!("49{id:054}")
}

impl LambdaSink {
    /// A sink invoking `function`.
    pub async fn new(aws: &AwsTarget, function: &str) -> Self {
        LambdaSink {
            function: function.to_owned(),
            client: Client::new(&aws.sdk_config().await),
        }
    }

    /// The Firehose event for `entries`.
    pub fn event(entries: &[Entry]) -> serde_json::Value {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let records: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| {
                serde_json::json!({
                    "recordId": record_id(e.id),
                    "approximateArrivalTimestamp": now,
                    "data": STANDARD.encode(&e.payload),
                })
            })
            .collect();
        let first = entries.first().map_or(0, |e| e.id);
        serde_json::json!({
            "invocationId": format!("00000000-0000-4000-8000-{first:012x}"),
            "deliveryStreamArn": DELIVERY_STREAM_ARN,
            "region": REGION,
            "records": records,
        })
    }

    pub(super) async fn send(&self, entries: &[Entry]) -> Result<CallOutcome, CallError> {
        let event = Self::event(entries);
        let response = self
            .client
            .invoke()
            .function_name(&self.function)
            .payload(Blob::new(event.to_string()))
            .send()
            .await
            .map_err(|e| CallError::sdk("Invoke", &e))?;
        let body = response.payload().map(AsRef::as_ref).unwrap_or_default();
        if let Some(kind) = response.function_error() {
            return Err(CallError {
                code: format!("FunctionError:{kind}"),
                message: format!(
                    "{} failed the event of {} records: {}",
                    self.function,
                    entries.len(),
                    String::from_utf8_lossy(&body[..body.len().min(300)])
                ),
            });
        }
        check_response(entries, body)
    }
}

fn violation(code: &str, message: String) -> CallError {
    CallError {
        code: code.to_owned(),
        message,
    }
}

/// Checks a transform response against the records sent and counts the results.
pub fn check_response(entries: &[Entry], body: &[u8]) -> Result<CallOutcome, CallError> {
    if body.len() > MAX_RESPONSE_BYTES {
        return Err(violation(
            "ResponseTooLarge",
            format!("response is {} bytes, over the 6 MB limit", body.len()),
        ));
    }
    let response: Response = serde_json::from_slice(body).map_err(|e| {
        violation(
            "JsonProcessingException",
            format!(
                "response is not {{\"records\":[…]}}: {e}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ),
        )
    })?;
    let mut expected: HashMap<String, bool> =
        entries.iter().map(|e| (record_id(e.id), false)).collect();
    let mut counts: HashMap<&str, u64> = HashMap::new();
    let mut rows = 0u64;
    for (i, record) in response.records.iter().enumerate() {
        match expected.get_mut(&record.record_id) {
            None => {
                return Err(violation(
                    "UnknownRecordId",
                    format!(
                        "response record {} has recordId {} that was not sent",
                        i + 1,
                        record.record_id
                    ),
                ));
            }
            Some(true) => {
                return Err(violation(
                    "DuplicatedRecordId",
                    format!("recordId {} comes back twice", record.record_id),
                ));
            }
            Some(seen) => *seen = true,
        }
        match record.result.as_str() {
            "Ok" => {
                let data = STANDARD.decode(record.data.trim()).map_err(|e| {
                    violation(
                        "InvalidData",
                        format!("recordId {}: data is not base64: {e}", record.record_id),
                    )
                })?;
                rows += serde_json::Deserializer::from_slice(&data)
                    .into_iter::<serde::de::IgnoredAny>()
                    .take_while(Result::is_ok)
                    .count() as u64;
            }
            "Dropped" | "ProcessingFailed" => {}
            other => {
                return Err(violation(
                    "InvalidResult",
                    format!(
                        "recordId {}: result {other:?} is not Ok, Dropped or ProcessingFailed",
                        record.record_id
                    ),
                ));
            }
        }
        *counts.entry(record.result.as_str()).or_default() += 1;
    }
    if let Some((missing, _)) = expected.iter().find(|(_, seen)| !**seen) {
        let n = expected.values().filter(|s| !**s).count();
        return Err(violation(
            "MissingRecordId",
            format!("{n} recordIds sent are not in the response, e.g. {missing}"),
        ));
    }
    let mut results: Vec<(String, u64)> =
        counts.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    results.push(("rows".to_owned(), rows));
    Ok(CallOutcome {
        failed: Vec::new(),
        results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(n: u64) -> Vec<Entry> {
        (0..n)
            .map(|id| Entry {
                id,
                key: String::new(),
                payload: super::super::frame_message("line"),
                lines: 1,
            })
            .collect()
    }

    fn answer(records: &[(u64, &str, &str)]) -> Vec<u8> {
        let records: Vec<serde_json::Value> = records
            .iter()
            .map(|(id, result, data)| {
                serde_json::json!({"recordId": record_id(*id), "result": result, "data": STANDARD.encode(data)})
            })
            .collect();
        serde_json::json!({ "records": records })
            .to_string()
            .into_bytes()
    }

    #[test]
    fn a_complete_response_is_counted() {
        let body = answer(&[
            (0, "Ok", "{\"a\":1}{\"a\":2}"),
            (1, "Dropped", ""),
            (2, "ProcessingFailed", ""),
        ]);
        let outcome = check_response(&entries(3), &body).unwrap();
        let results: HashMap<String, u64> = outcome.results.into_iter().collect();
        assert_eq!(results["Ok"], 1);
        assert_eq!(results["Dropped"], 1);
        assert_eq!(results["ProcessingFailed"], 1);
        assert_eq!(results["rows"], 2);
    }

    #[test]
    fn contract_violations_are_named() {
        let sent = entries(2);
        let code = |body: Vec<u8>| check_response(&sent, &body).unwrap_err().code;
        assert_eq!(code(answer(&[(0, "Ok", "{}")])), "MissingRecordId");
        assert_eq!(
            code(answer(&[(0, "Ok", "{}"), (0, "Ok", "{}")])),
            "DuplicatedRecordId"
        );
        assert_eq!(
            code(answer(&[(0, "Ok", "{}"), (7, "Ok", "{}")])),
            "UnknownRecordId"
        );
        assert_eq!(
            code(answer(&[(0, "Ok", "{}"), (1, "ok", "{}")])),
            "InvalidResult"
        );
        assert_eq!(code(b"[]".to_vec()), "JsonProcessingException");
    }
}
