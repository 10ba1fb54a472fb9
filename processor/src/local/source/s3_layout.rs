//! Finding flow-log objects under an S3 prefix in the VPC Flow Logs delivery layout
//! (`[prefix/]AWSLogs/<account>/vpcflowlogs/<region>/YYYY/MM/DD/[HH/]<file>.log.gz`, aws-facts
//! §5.1), listing only the day folders of a time range. Hive-compatible delivery folders
//! (`aws-account-id=…`) are not walked by date; give their prefix without a time range instead.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};

use crate::local::s3::{BlockingS3, S3Error, S3Location};

/// The folder VPC Flow Logs delivers under.
pub const AWS_LOGS_FOLDER: &str = "AWSLogs";
/// The service folder below the account.
pub const SERVICE_FOLDER: &str = "vpcflowlogs";
/// Files are kept when their name's timestamp is within this of the range: a file holds records
/// whose `end` falls in its 5-minute slot, and a record may aggregate up to 10 minutes.
pub const FILE_TIME_SLACK_MINUTES: i64 = 15;

/// A half-open UTC time range `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// Inclusive start.
    pub start: DateTime<Utc>,
    /// Exclusive end.
    pub end: DateTime<Utc>,
}

impl TimeRange {
    /// The UTC days the range touches, in order.
    pub fn days(&self) -> Vec<NaiveDate> {
        let first = self.start.date_naive();
        let last = (self.end - Duration::seconds(1)).date_naive().max(first);
        first.iter_days().take_while(|d| *d <= last).collect()
    }

    /// Whether a delivery file stamped `at` may hold records of the range.
    pub fn may_hold(&self, at: DateTime<Utc>) -> bool {
        let slack = Duration::minutes(FILE_TIME_SLACK_MINUTES);
        at >= self.start - slack && at < self.end + slack
    }
}

/// The `YYYYMMDDTHHmmZ` stamp in a delivery file name
/// (`{account}_vpcflowlogs_{region}_{flow-log-id}_{YYYYMMDDTHHmmZ}_{hash}.log.gz`).
pub fn file_time(key: &str) -> Option<DateTime<Utc>> {
    let name = key.rsplit('/').next()?;
    name.split('_').find_map(|part| {
        if part.len() == 14 && part.as_bytes()[8] == b'T' && part.ends_with('Z') {
            NaiveDateTime::parse_from_str(part, "%Y%m%dT%H%MZ")
                .ok()
                .map(|t| t.and_utc())
        } else {
            None
        }
    })
}

/// Keys of flow-log objects under `location`: everything under it without a range; with one, the
/// day folders of the range under every account and region found, filtered by file time.
pub fn flow_log_keys(
    s3: &BlockingS3,
    location: &S3Location,
    range: Option<&TimeRange>,
) -> Result<Vec<String>, S3Error> {
    let folder = |p: &str| {
        if p.is_empty() {
            String::new()
        } else {
            format!("{p}/")
        }
    };
    let Some(range) = range else {
        let objects = s3.list_objects(&location.bucket, &folder(&location.prefix))?;
        return Ok(objects
            .into_iter()
            .map(|o| o.key)
            .filter(|k| !k.ends_with('/'))
            .collect());
    };
    let mut keys = Vec::new();
    for root in region_roots(s3, location)? {
        for day in range.days() {
            let prefix = format!("{root}{}/", day.format("%Y/%m/%d"));
            for object in s3.list_objects(&location.bucket, &prefix)? {
                if !object.key.ends_with('/')
                    && file_time(&object.key).is_none_or(|t| range.may_hold(t))
                {
                    keys.push(object.key);
                }
            }
        }
    }
    Ok(keys)
}

/// The `…/vpcflowlogs/<region>/` folders under `location`, whichever level its prefix stops at.
fn region_roots(s3: &BlockingS3, location: &S3Location) -> Result<Vec<String>, S3Error> {
    let segments: Vec<&str> = location
        .prefix
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (base, below): (Vec<&str>, Vec<&str>) =
        if let Some(at) = segments.iter().position(|s| *s == AWS_LOGS_FOLDER) {
            (segments[..=at].to_vec(), segments[at + 1..].to_vec())
        } else {
            let mut base = segments.clone();
            base.push(AWS_LOGS_FOLDER);
            (base, Vec::new())
        };
    let base = format!("{}/", base.join("/"));
    let accounts = match below.first() {
        Some(account) => vec![format!("{base}{account}/")],
        None => s3.list_folders(&location.bucket, &base)?,
    };
    let mut roots = Vec::new();
    for account in accounts {
        let service = format!("{account}{SERVICE_FOLDER}/");
        match below.get(2) {
            Some(region) => roots.push(format!("{service}{region}/")),
            None => roots.extend(s3.list_folders(&location.bucket, &service)?),
        }
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn file_times_from_delivery_names() {
        let cases = [
            (
                "AWSLogs/1/vpcflowlogs/us-east-1/2024/05/01/111122223333_vpcflowlogs_us-east-1_fl-0a_20240501T1305Z_ab12.log.gz",
                Some(at("2024-05-01T13:05:00Z")),
            ),
            ("x/plain.log.gz", None),
            ("x/a_2024T_b.log.gz", None),
        ];
        for (key, expected) in cases {
            assert_eq!(file_time(key), expected, "{key}");
        }
    }

    #[test]
    fn days_and_file_filter_of_a_range() {
        let range = TimeRange {
            start: at("2024-05-01T23:00:00Z"),
            end: at("2024-05-03T00:00:00Z"),
        };
        let days: Vec<String> = range.days().iter().map(ToString::to_string).collect();
        assert_eq!(days, ["2024-05-01", "2024-05-02"]);
        assert!(range.may_hold(at("2024-05-01T22:50:00Z")));
        assert!(!range.may_hold(at("2024-05-01T22:40:00Z")));
        assert!(range.may_hold(at("2024-05-03T00:10:00Z")));
        assert!(!range.may_hold(at("2024-05-03T00:20:00Z")));
    }
}
