//! Project rules for `deploy/template.yaml` and `kubernetes/` that cfn-lint and checkov do not know.
//!
//! The template is read as YAML (CloudFormation short tags such as `!Ref` arrive as
//! `Value::Tagged`) and checked against the code it deploys: the Glue columns against the Rust
//! row schema, the flow-log format against the parser's recommended format, the Firehose settings
//! against the service's rules (aws-facts §1-§3), the IAM policies against least privilege, and
//! the RBAC group against the access entry. A failure names the resource and the property.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;

use crossaz::flowlog::{FlowFormat, RECOMMENDED_FORMAT};
use crossaz::metrics::{NAMESPACE, transform_emf};
use crossaz::row::{COLUMNS, PARTITION_COLUMN, PARTITION_FORMAT};
use crossaz::transform::BatchStats;
use serde_yaml::Value;

/// Flow-log fields attribution and counting cannot do without (design §3).
const REQUIRED_FLOW_FIELDS: [&str; 7] = [
    "${pkt-srcaddr}",
    "${pkt-dstaddr}",
    "${bytes}",
    "${start}",
    "${flow-direction}",
    "${instance-id}",
    "${az-id}",
];
/// Firehose: `BufferingHints.SizeInMBs` must be at least 64 with dynamic partitioning or format
/// conversion (aws-facts §2, §3).
const MIN_FIREHOSE_BUFFER_MB: u64 = 64;
/// Lambda processor buffer: 1 MB of flow lines becomes at most ~3.4 MB of response; above 2 MB
/// the 6 MB response limit is in reach (aws-facts §1.5).
const MAX_PROCESSOR_BUFFER_MB: f64 = 2.0;
/// Firehose supports a transform run time of at most 5 minutes (aws-facts §1.3).
const MAX_LAMBDA_TIMEOUT_SECS: u64 = 300;
/// Actions that cannot be scoped to a resource and may therefore use `Resource: "*"`.
const UNSCOPABLE_ACTIONS: [&str; 2] = ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"];
/// Environment variables the transform reads (processor/src/lambda.rs `env`).
const TRANSFORM_ENV: [&str; 7] = [
    "CROSSAZ_SNAPSHOT_BUCKET",
    "CROSSAZ_SNAPSHOT_KEY",
    "CROSSAZ_FLOW_FORMAT",
    "CROSSAZ_USD_PER_GB",
    "CROSSAZ_MAX_SNAPSHOT_LAG_SECS",
    "CROSSAZ_MAX_RECORD_AGE_SECS",
    "CROSSAZ_SNAPSHOT_REFRESH_SECS",
];
/// Environment variables the extractor reads (pod-cache/src/extract/config.rs).
const EXTRACTOR_ENV: [&str; 6] = [
    "CROSSAZ_CLUSTER",
    "CROSSAZ_SNAPSHOT_BUCKET",
    "CROSSAZ_SNAPSHOT_PREFIX",
    "CROSSAZ_RETENTION_SECS",
    "CROSSAZ_APP_LABEL",
    "CROSSAZ_NAMESPACES",
];

fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

fn read(relative: &str) -> String {
    let path = repo_path(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The intrinsic function of a value, short (`!Sub x`) or long form (`{"Fn::Sub": x}`), with its
/// argument.
fn intrinsic(value: &Value) -> Option<(String, &Value)> {
    match value {
        Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let name = if name == "Ref" || name == "Condition" {
                name.to_owned()
            } else {
                format!("Fn::{name}")
            };
            Some((name, &tagged.value))
        }
        Value::Mapping(map) if map.len() == 1 => {
            let (key, arg) = map.iter().next()?;
            let key = key.as_str()?;
            (key == "Ref" || key.starts_with("Fn::")).then(|| (key.to_owned(), arg))
        }
        _ => None,
    }
}

fn at<'v>(value: &'v Value, path: &[&str]) -> &'v Value {
    let mut current = value;
    for (depth, key) in path.iter().enumerate() {
        current = current
            .get(*key)
            .unwrap_or_else(|| panic!("missing {} in {current:?}", path[..=depth].join(".")));
    }
    current
}

fn as_str<'v>(value: &'v Value, what: &str) -> &'v str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a plain string: {value:?}"))
}

fn as_u64(value: &Value, what: &str) -> u64 {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .unwrap_or_else(|| panic!("{what} is not a whole number: {value:?}"))
}

/// A value or the single value of a list (IAM `Action` and `Resource` take both).
fn one_or_many(value: &Value) -> Vec<&Value> {
    match value {
        Value::Sequence(items) => items.iter().collect(),
        other => vec![other],
    }
}

struct Template {
    doc: Value,
}

impl Template {
    fn load() -> Self {
        let text = read("deploy/template.yaml");
        let doc = serde_yaml::from_str(&text).expect("deploy/template.yaml is YAML");
        Self { doc }
    }

    fn resource(&self, name: &str) -> &Value {
        at(&self.doc, &["Resources", name])
    }

    fn props(&self, name: &str) -> &Value {
        at(self.resource(name), &["Properties"])
    }

    fn resources_of_type(&self, kind: &str) -> Vec<(&str, &Value)> {
        let Value::Mapping(resources) = at(&self.doc, &["Resources"]) else {
            panic!("Resources is not a map")
        };
        resources
            .iter()
            .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(kind))
            .map(|(name, r)| (name.as_str().expect("resource names are strings"), r))
            .collect()
    }

    fn constant(&self, group: &str, key: &str) -> &str {
        as_str(at(&self.doc, &["Mappings", "Constants", group, key]), key)
    }

    /// The text of a property: a plain string, a number, a `!FindInMap` of the constants, or the
    /// unsubstituted template of a `!Sub`.
    fn text(&self, value: &Value) -> String {
        match (value, intrinsic(value)) {
            (Value::String(s), _) => s.clone(),
            (Value::Number(n), _) => n.to_string(),
            (_, Some((name, arg))) if name == "Fn::FindInMap" => {
                let keys: Vec<&str> = one_or_many(arg)
                    .iter()
                    .map(|k| as_str(k, "FindInMap key"))
                    .collect();
                assert_eq!(keys.len(), 3, "FindInMap takes three keys: {keys:?}");
                as_str(
                    at(&self.doc, &["Mappings", keys[0], keys[1], keys[2]]),
                    keys[2],
                )
                .to_owned()
            }
            (_, Some((name, arg))) if name == "Fn::Sub" => as_str(arg, "Sub template").to_owned(),
            _ => panic!("cannot read {value:?} as text"),
        }
    }

    /// The name a `!Ref` / `!GetAtt` points at.
    fn reference(value: &Value) -> String {
        match intrinsic(value) {
            Some((name, arg)) if name == "Ref" => as_str(arg, "Ref").to_owned(),
            Some((name, arg)) if name == "Fn::GetAtt" => match arg {
                Value::String(s) => s.clone(),
                Value::Sequence(parts) => parts
                    .iter()
                    .map(|p| as_str(p, "GetAtt"))
                    .collect::<Vec<_>>()
                    .join("."),
                other => panic!("GetAtt argument {other:?}"),
            },
            _ => panic!("{value:?} is not a Ref or GetAtt"),
        }
    }

    fn firehose_s3(&self) -> &Value {
        at(
            self.props("FlowStream"),
            &["ExtendedS3DestinationConfiguration"],
        )
    }

    fn environment(&self, function: &str) -> &serde_yaml::Mapping {
        at(self.props(function), &["Environment", "Variables"])
            .as_mapping()
            .expect("Variables is a map")
    }
}

/// The Glue column list a template must hold, printed on failure so it can be pasted.
fn expected_columns_yaml() -> String {
    let mut out = String::new();
    for c in COLUMNS {
        let comment = c.doc.trim().replace('\'', "''");
        let _ = writeln!(
            out,
            "            - {{ Name: {}, Type: {}, Comment: '{comment}' }}",
            c.name,
            c.kind.glue_type()
        );
    }
    out
}

#[test]
fn glue_columns_equal_the_row_schema_in_order() {
    let t = Template::load();
    let columns = at(
        t.props("FlowsTable"),
        &["TableInput", "StorageDescriptor", "Columns"],
    );
    let actual: Vec<(String, String, String)> = one_or_many(columns)
        .iter()
        .map(|c| {
            (
                t.text(at(c, &["Name"])),
                t.text(at(c, &["Type"])),
                t.text(at(c, &["Comment"])),
            )
        })
        .collect();
    let expected: Vec<(String, String, String)> = COLUMNS
        .iter()
        .map(|c| {
            (
                c.name.to_owned(),
                c.kind.glue_type().to_owned(),
                c.doc.trim().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        actual,
        expected,
        "FlowsTable columns drifted from crossaz::row::COLUMNS; expected:\n{}",
        expected_columns_yaml()
    );
}

#[test]
fn partition_key_is_dt_projected_hourly_in_the_rust_format() {
    let t = Template::load();
    let input = at(t.props("FlowsTable"), &["TableInput"]);
    let keys = one_or_many(at(input, &["PartitionKeys"]));
    let keys: Vec<(String, String)> = keys
        .iter()
        .map(|k| (t.text(at(k, &["Name"])), t.text(at(k, &["Type"]))))
        .collect();
    assert_eq!(
        keys,
        vec![(PARTITION_COLUMN.to_owned(), "string".to_owned())]
    );

    let params = at(input, &["Parameters"]);
    let param = |key: &str| t.text(at(params, &[key]));
    let java_format = PARTITION_FORMAT
        .replace("%Y", "yyyy")
        .replace("%m", "MM")
        .replace("%d", "dd")
        .replace("%H", "HH");
    assert_eq!(java_format, "yyyy-MM-dd-HH");
    assert_eq!(
        param(&format!("projection.{PARTITION_COLUMN}.format")),
        java_format
    );
    assert_eq!(
        param(&format!("projection.{PARTITION_COLUMN}.type")),
        "date"
    );
    assert_eq!(
        param(&format!("projection.{PARTITION_COLUMN}.interval")),
        "1"
    );
    assert_eq!(
        param(&format!("projection.{PARTITION_COLUMN}.interval.unit")),
        "HOURS"
    );
    assert_eq!(param("projection.enabled"), "true");
    assert_eq!(param("classification"), "parquet");
    // Sub templates: `${!dt}` is the literal `${dt}` Athena fills in.
    assert_eq!(
        param("storage.location.template"),
        format!("s3://${{DataBucket}}/flows/{PARTITION_COLUMN}=${{!{PARTITION_COLUMN}}}/")
    );
    let location = t.text(at(input, &["StorageDescriptor", "Location"]));
    assert_eq!(location, "s3://${DataBucket}/flows/");
    let serde = t.text(at(
        input,
        &["StorageDescriptor", "SerdeInfo", "SerializationLibrary"],
    ));
    assert_eq!(
        serde,
        "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    );
}

#[test]
fn firehose_prefix_partitions_on_the_lambda_dt_key_under_the_table_location() {
    let t = Template::load();
    let s3 = t.firehose_s3();
    let prefix = t.text(at(s3, &["Prefix"]));
    assert_eq!(
        prefix,
        format!("flows/{PARTITION_COLUMN}=!{{partitionKeyFromLambda:{PARTITION_COLUMN}}}/")
    );
    assert!(
        !prefix.contains("error-output-type"),
        "Prefix may not use error-output-type: {prefix}"
    );
    assert_eq!(
        at(s3, &["DynamicPartitioningConfiguration", "Enabled"]),
        &Value::Bool(true)
    );
    assert_eq!(
        Template::reference(at(s3, &["BucketARN"])),
        "DataBucket.Arn"
    );
}

#[test]
fn firehose_error_prefix_names_the_error_type_and_no_partition_key() {
    let t = Template::load();
    let error_prefix = t.text(at(t.firehose_s3(), &["ErrorOutputPrefix"]));
    assert!(
        error_prefix.contains("!{firehose:error-output-type}"),
        "ErrorOutputPrefix {error_prefix}"
    );
    assert!(
        !error_prefix.contains("partitionKeyFrom"),
        "ErrorOutputPrefix {error_prefix} may not use partition keys"
    );
    assert!(
        error_prefix.starts_with("errors/"),
        "errors stay out of the table location: {error_prefix}"
    );
}

#[test]
fn firehose_buffer_meets_the_minimum_for_partitioning_and_conversion() {
    let t = Template::load();
    let s3 = t.firehose_s3();
    let conversion =
        at(s3, &["DataFormatConversionConfiguration", "Enabled"]) == &Value::Bool(true);
    let partitioning =
        at(s3, &["DynamicPartitioningConfiguration", "Enabled"]) == &Value::Bool(true);
    assert!(
        conversion && partitioning,
        "the pipeline needs both Parquet conversion and dynamic partitioning"
    );
    let size = as_u64(at(s3, &["BufferingHints", "SizeInMBs"]), "SizeInMBs");
    let interval = as_u64(
        at(s3, &["BufferingHints", "IntervalInSeconds"]),
        "IntervalInSeconds",
    );
    assert!(
        size >= MIN_FIREHOSE_BUFFER_MB,
        "BufferingHints.SizeInMBs {size} < {MIN_FIREHOSE_BUFFER_MB}"
    );
    assert!(
        (60..=900).contains(&interval),
        "BufferingHints.IntervalInSeconds {interval}"
    );
    assert_eq!(
        t.text(at(s3, &["CompressionFormat"])),
        "UNCOMPRESSED",
        "Parquet compresses itself"
    );
}

#[test]
fn lambda_processor_buffer_is_small_enough_for_the_response_limit() {
    let t = Template::load();
    let processors = one_or_many(at(
        t.firehose_s3(),
        &["ProcessingConfiguration", "Processors"],
    ));
    assert_eq!(processors.len(), 1);
    assert_eq!(t.text(at(processors[0], &["Type"])), "Lambda");
    let params = one_or_many(at(processors[0], &["Parameters"]));
    let param = |name: &str| {
        params
            .iter()
            .find(|p| p.get("ParameterName").and_then(Value::as_str) == Some(name))
            .map_or_else(
                || panic!("processor parameter {name} missing"),
                |p| at(p, &["ParameterValue"]),
            )
    };
    let size: f64 = t
        .text(param("BufferSizeInMBs"))
        .parse()
        .expect("BufferSizeInMBs is a number");
    assert!(
        size > 0.0 && size <= MAX_PROCESSOR_BUFFER_MB,
        "BufferSizeInMBs {size}"
    );
    let interval = as_u64(param("BufferIntervalInSeconds"), "BufferIntervalInSeconds");
    assert!(interval <= 900, "BufferIntervalInSeconds {interval}");
    assert_eq!(
        Template::reference(param("LambdaArn")),
        "TransformFunction.Arn"
    );
}

#[test]
fn firehose_converts_against_the_flows_table_and_is_open_to_log_delivery() {
    let t = Template::load();
    let props = t.props("FlowStream");
    assert_eq!(t.text(at(props, &["DeliveryStreamType"])), "DirectPut");
    let tags = one_or_many(at(props, &["Tags"]));
    assert!(
        tags.iter().any(
            |tag| tag.get("Key").and_then(Value::as_str) == Some("LogDeliveryEnabled")
                && tag.get("Value").and_then(Value::as_str) == Some("true")
        ),
        "FlowStream needs the tag LogDeliveryEnabled=true: {tags:?}"
    );
    let schema = at(
        t.firehose_s3(),
        &["DataFormatConversionConfiguration", "SchemaConfiguration"],
    );
    assert_eq!(
        Template::reference(at(schema, &["TableName"])),
        "FlowsTable"
    );
    assert_eq!(
        Template::reference(at(schema, &["DatabaseName"])),
        "GlueDatabase"
    );
    let serde = at(
        t.firehose_s3(),
        &[
            "DataFormatConversionConfiguration",
            "InputFormatConfiguration",
            "Deserializer",
            "OpenXJsonSerDe",
        ],
    );
    assert_eq!(at(serde, &["CaseInsensitive"]), &Value::Bool(true));
}

#[test]
fn flow_log_format_is_the_recommended_format_the_transform_is_told() {
    let t = Template::load();
    let flow_log = t.props("FlowLog");
    let format = t.text(at(flow_log, &["LogFormat"]));
    assert_eq!(format, RECOMMENDED_FORMAT);
    for field in REQUIRED_FLOW_FIELDS {
        assert!(
            format.split(' ').any(|f| f == field),
            "LogFormat lacks {field}"
        );
    }
    let parsed = FlowFormat::parse(&format).expect("the template's LogFormat parses");
    parsed
        .require_attribution_fields()
        .expect("the template's LogFormat attributes pods");
    let env = t.environment("TransformFunction");
    assert_eq!(t.text(&env[&Value::from("CROSSAZ_FLOW_FORMAT")]), format);
    assert_eq!(
        t.text(at(flow_log, &["LogDestinationType"])),
        "kinesis-data-firehose"
    );
    assert_eq!(
        Template::reference(at(flow_log, &["LogDestination"])),
        "FlowStream.Arn"
    );
    assert_eq!(
        Template::reference(at(flow_log, &["MaxAggregationInterval"])),
        "FlowLogAggregationSeconds"
    );
    assert_eq!(
        as_u64(
            at(
                &t.doc,
                &["Parameters", "FlowLogAggregationSeconds", "Default"]
            ),
            "aggregation"
        ),
        60
    );
}

#[test]
fn lambdas_are_bootstrap_binaries_within_the_firehose_timeout() {
    let t = Template::load();
    let functions = t.resources_of_type("AWS::Lambda::Function");
    let names: BTreeSet<&str> = functions.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        BTreeSet::from(["ExtractorFunction", "TransformFunction"])
    );
    for (name, resource) in functions {
        let props = at(resource, &["Properties"]);
        assert_eq!(t.text(at(props, &["Runtime"])), "provided.al2023", "{name}");
        assert_eq!(t.text(at(props, &["Handler"])), "bootstrap", "{name}");
        let timeout = as_u64(at(props, &["Timeout"]), "Timeout");
        assert!(
            timeout <= MAX_LAMBDA_TIMEOUT_SECS,
            "{name} Timeout {timeout} > {MAX_LAMBDA_TIMEOUT_SECS}"
        );
        let log_group = Template::reference(at(props, &["LoggingConfig", "LogGroup"]));
        let retention = at(t.props(&log_group), &["RetentionInDays"]);
        assert_eq!(
            Template::reference(retention),
            "LogRetentionDays",
            "{name} log group retention"
        );
    }
    // The extractor must finish before the next scheduled run starts.
    let schedule = t.text(at(&t.doc, &["Parameters", "ExtractorSchedule", "Default"]));
    assert_eq!(schedule, "rate(1 minute)");
    assert!(as_u64(at(t.props("ExtractorFunction"), &["Timeout"]), "Timeout") < 60);
    let arch = at(&t.doc, &["Parameters", "LambdaArchitecture"]);
    assert_eq!(t.text(at(arch, &["Default"])), "arm64");
}

#[test]
fn lambda_environments_are_exactly_the_variables_the_binaries_read() {
    let t = Template::load();
    for (function, expected) in [
        ("TransformFunction", &TRANSFORM_ENV[..]),
        ("ExtractorFunction", &EXTRACTOR_ENV[..]),
    ] {
        let actual: BTreeSet<&str> = t
            .environment(function)
            .keys()
            .map(|k| as_str(k, "env name"))
            .collect();
        assert_eq!(
            actual,
            expected.iter().copied().collect::<BTreeSet<_>>(),
            "{function} environment"
        );
    }
    // Where the extractor writes is where the transform reads.
    let key = t.text(&t.environment("TransformFunction")[&Value::from("CROSSAZ_SNAPSHOT_KEY")]);
    let prefix =
        t.text(&t.environment("ExtractorFunction")[&Value::from("CROSSAZ_SNAPSHOT_PREFIX")]);
    assert_eq!(key, format!("{prefix}${{ClusterName}}/latest"));
    for function in ["TransformFunction", "ExtractorFunction"] {
        let bucket = &t.environment(function)[&Value::from("CROSSAZ_SNAPSHOT_BUCKET")];
        assert_eq!(Template::reference(bucket), "SnapshotBucket", "{function}");
    }
}

/// Every statement of every IAM policy in the template, with the resource it belongs to.
fn iam_statements(t: &Template) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    for (name, role) in t.resources_of_type("AWS::IAM::Role") {
        let Some(policies) = role.get("Properties").and_then(|p| p.get("Policies")) else {
            continue;
        };
        for policy in one_or_many(policies) {
            for statement in one_or_many(at(policy, &["PolicyDocument", "Statement"])) {
                out.push((name.to_owned(), statement));
            }
        }
    }
    for kind in ["AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"] {
        for (name, policy) in t.resources_of_type(kind) {
            for statement in one_or_many(at(policy, &["Properties", "PolicyDocument", "Statement"]))
            {
                out.push((name.to_owned(), statement));
            }
        }
    }
    // `!If [cond, statement, !Ref AWS::NoValue]` wraps a conditional statement.
    out.into_iter()
        .filter_map(|(name, statement)| match intrinsic(statement) {
            Some((f, arg)) if f == "Fn::If" => one_or_many(arg).get(1).map(|s| (name, *s)),
            _ => Some((name, statement)),
        })
        .collect()
}

#[test]
fn iam_allows_named_actions_on_exact_resources_only() {
    let t = Template::load();
    let statements = iam_statements(&t);
    assert!(
        statements.len() >= 10,
        "found only {} statements",
        statements.len()
    );
    for (resource, statement) in statements {
        let sid = statement.get("Sid").and_then(Value::as_str).unwrap_or("?");
        assert_eq!(
            t.text(at(statement, &["Effect"])),
            "Allow",
            "{resource}/{sid}"
        );
        assert!(
            statement.get("NotAction").is_none() && statement.get("NotResource").is_none(),
            "{resource}/{sid}"
        );
        let actions: Vec<String> = one_or_many(at(statement, &["Action"]))
            .iter()
            .map(|a| t.text(a))
            .collect();
        for action in &actions {
            assert!(
                !action.contains('*'),
                "{resource}/{sid} allows the wildcard action {action}"
            );
            assert!(
                action
                    .split_once(':')
                    .is_some_and(|(svc, op)| !svc.is_empty() && !op.is_empty()),
                "{resource}/{sid}: {action}"
            );
        }
        for target in one_or_many(at(statement, &["Resource"])) {
            if target.as_str() == Some("*") {
                assert!(
                    actions
                        .iter()
                        .all(|a| UNSCOPABLE_ACTIONS.contains(&a.as_str())),
                    "{resource}/{sid} grants {actions:?} on every resource"
                );
            }
        }
    }
    // Bucket policies may only deny (TLS-only), never allow.
    for (name, policy) in t.resources_of_type("AWS::S3::BucketPolicy") {
        for statement in one_or_many(at(policy, &["Properties", "PolicyDocument", "Statement"])) {
            assert_eq!(t.text(at(statement, &["Effect"])), "Deny", "{name}");
            assert_eq!(
                at(statement, &["Condition", "Bool", "aws:SecureTransport"]),
                &Value::from("false"),
                "{name}"
            );
        }
    }
}

#[test]
fn buckets_are_private_encrypted_tls_only_and_expire_data() {
    let t = Template::load();
    let buckets = t.resources_of_type("AWS::S3::Bucket");
    assert_eq!(buckets.len(), 3);
    let policies: BTreeSet<String> = t
        .resources_of_type("AWS::S3::BucketPolicy")
        .iter()
        .map(|(_, p)| Template::reference(at(p, &["Properties", "Bucket"])))
        .collect();
    for (name, bucket) in buckets {
        let props = at(bucket, &["Properties"]);
        assert!(
            props.get("BucketName").is_none(),
            "{name}: names are generated from the stack name"
        );
        let block = at(props, &["PublicAccessBlockConfiguration"]);
        for key in [
            "BlockPublicAcls",
            "BlockPublicPolicy",
            "IgnorePublicAcls",
            "RestrictPublicBuckets",
        ] {
            assert_eq!(at(block, &[key]), &Value::Bool(true), "{name}.{key}");
        }
        assert!(props.get("BucketEncryption").is_some(), "{name} encryption");
        let rules = one_or_many(at(props, &["LifecycleConfiguration", "Rules"]));
        assert!(
            rules.iter().any(|r| r.get("ExpirationInDays").is_some()),
            "{name} expires nothing"
        );
        assert!(policies.contains(name), "{name} has no TLS-only policy");
    }
    let data_rules = one_or_many(at(
        t.props("DataBucket"),
        &["LifecycleConfiguration", "Rules"],
    ));
    let expiry: Vec<(String, String)> = data_rules
        .iter()
        .filter(|r| r.get("ExpirationInDays").is_some())
        .map(|r| {
            (
                t.text(at(r, &["Prefix"])),
                Template::reference(at(r, &["ExpirationInDays"])),
            )
        })
        .collect();
    assert_eq!(
        expiry,
        vec![
            ("flows/".to_owned(), "FlowRetentionDays".to_owned()),
            ("errors/".to_owned(), "ErrorRetentionDays".to_owned())
        ]
    );
}

#[test]
fn emf_metrics_the_alarms_watch_are_the_ones_the_transform_emits() {
    let t = Template::load();
    assert_eq!(t.constant("Metrics", "Namespace"), NAMESPACE);
    // The transform's `Function` dimension is its own name (AWS_LAMBDA_FUNCTION_NAME); the alarms
    // on its EMF metrics must use the function's name too.
    let function = "stack-transform";
    let line = transform_emf(function, &BatchStats::default(), 0, 0);
    let emf: serde_json::Value = serde_json::from_str(&line).expect("EMF is JSON");
    let directive = &emf["_aws"]["CloudWatchMetrics"][0];
    let dimension = t.constant("Metrics", "Dimension");
    assert_eq!(directive["Dimensions"], serde_json::json!([[dimension]]));
    assert_eq!(emf[dimension], serde_json::json!(function));
    let declared: BTreeSet<&str> = directive["Metrics"]
        .as_array()
        .expect("Metrics is a list")
        .iter()
        .filter_map(|m| m["Name"].as_str())
        .collect();
    for key in ["RecordsFailed", "SnapshotAge"] {
        let metric = t.constant("Metrics", key);
        assert!(
            declared.contains(metric),
            "the transform does not emit {metric}"
        );
    }
    let alarms: BTreeSet<&str> = t
        .resources_of_type("AWS::CloudWatch::Alarm")
        .iter()
        .map(|(n, _)| *n)
        .collect();
    let expected = [
        "ConversionFailedAlarm",
        "ExtractorErrorsAlarm",
        "ProcessingFailedAlarm",
        "SnapshotAgeAlarm",
        "TransformErrorsAlarm",
    ];
    assert_eq!(alarms, expected.into_iter().collect());
    assert_eq!(
        t.text(at(t.props("ConversionFailedAlarm"), &["MetricName"])),
        "FailedConversion.Records"
    );
    // Every alarm on the transform's EMF metrics selects them by the function's own name.
    let emf_dimensions = |dimensions: &Value| -> Vec<(String, String)> {
        one_or_many(dimensions)
            .into_iter()
            .map(|d| {
                let value = at(d, &["Value"]);
                let target = match intrinsic(value) {
                    Some((name, arg)) if name == "Ref" => format!("Ref {}", as_str(arg, "Ref")),
                    _ => t.text(value),
                };
                (t.text(at(d, &["Name"])), target)
            })
            .collect()
    };
    let by_function = vec![(dimension.to_owned(), "Ref TransformFunction".to_owned())];
    assert_eq!(
        emf_dimensions(at(t.props("SnapshotAgeAlarm"), &["Dimensions"])),
        by_function
    );
    let failed = one_or_many(at(t.props("ProcessingFailedAlarm"), &["Metrics"]))
        .into_iter()
        .map(|m| at(m, &["MetricStat", "Metric"]))
        .find(|m| t.text(at(m, &["Namespace"])) == NAMESPACE)
        .expect("ProcessingFailedAlarm watches the transform's RecordsFailed");
    assert_eq!(emf_dimensions(at(failed, &["Dimensions"])), by_function);
}

/// Column-like identifiers of a query: every `src_*`/`dst_*` word and the plain flow columns.
fn referenced_columns(sql: &str) -> BTreeSet<String> {
    const PLAIN: [&str; 5] = ["start_ts", "end_ts", "bytes", "packets", "cost_usd"];
    sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("src_") || w.starts_with("dst_") || PLAIN.contains(w))
        .map(str::to_owned)
        .collect()
}

#[test]
fn view_keeps_the_original_columns_and_queries_use_existing_columns() {
    let t = Template::load();
    let known: BTreeSet<&str> = COLUMNS.iter().map(|c| c.name).collect();
    let view = at(t.props("ResultsView"), &["TableInput"]);
    assert_eq!(t.text(at(view, &["Name"])), "athena-results-table");
    assert_eq!(t.text(at(view, &["TableType"])), "VIRTUAL_VIEW");
    let glue: Vec<(String, String)> = one_or_many(at(view, &["StorageDescriptor", "Columns"]))
        .iter()
        .map(|c| (t.text(at(c, &["Name"])), t.text(at(c, &["Type"]))))
        .collect();
    let original = ["timestamp", "cross_az_traffic", "bytes_transfered"];
    assert_eq!(
        glue.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        original
    );

    // ViewOriginalText = "/* Presto View: " + base64(JSON) + " */"; the JSON is a Sub template.
    let parts = match intrinsic(at(view, &["ViewOriginalText"])) {
        Some((f, arg)) if f == "Fn::Join" => one_or_many(one_or_many(arg)[1])
            .into_iter()
            .cloned()
            .collect::<Vec<_>>(),
        other => panic!("ViewOriginalText is not a Join: {other:?}"),
    };
    assert_eq!(t.text(&parts[0]), "/* Presto View: ");
    assert_eq!(t.text(&parts[2]), " */");
    let encoded = match intrinsic(&parts[1]) {
        Some((f, arg)) if f == "Fn::Base64" => t.text(arg),
        other => panic!("the view definition is not Base64: {other:?}"),
    };
    let json: serde_json::Value =
        serde_json::from_str(&encoded.replace("${GlueDatabase}", "db")).expect("view JSON");
    let trino_to_glue = |ty: &str| match ty {
        "varchar" => "string".to_owned(),
        "timestamp(3)" => "timestamp".to_owned(),
        other => other.to_owned(),
    };
    let declared: Vec<(String, String)> = json["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().expect("name").to_owned(),
                trino_to_glue(c["type"].as_str().expect("type")),
            )
        })
        .collect();
    assert_eq!(
        declared, glue,
        "the view JSON and its Glue columns disagree"
    );
    let sql = json["originalSql"].as_str().expect("originalSql");
    assert!(sql.contains(" FROM flows "), "{sql}");
    let unknown: Vec<String> = referenced_columns(sql)
        .into_iter()
        .filter(|c| !known.contains(c.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "the view uses columns that do not exist: {unknown:?}"
    );

    let queries = t.resources_of_type("AWS::Athena::NamedQuery");
    assert_eq!(queries.len(), 4);
    let dt_filter = format!("'{PARTITION_FORMAT}')");
    for (name, query) in queries {
        let sql = t.text(at(query, &["Properties", "QueryString"]));
        let unknown: Vec<String> = referenced_columns(&sql)
            .into_iter()
            .filter(|c| !known.contains(c.as_str()))
            .collect();
        assert!(
            unknown.is_empty(),
            "{name} uses columns that do not exist: {unknown:?}"
        );
        let reads_flows = sql.contains("\"${GlueDatabase}\".\"flows\"");
        let reads_view = sql.contains("\"${GlueDatabase}\".\"athena-results-table\"");
        assert!(
            reads_flows || reads_view,
            "{name} reads neither the table nor the view: {sql}"
        );
        if reads_flows {
            assert!(
                sql.contains("WHERE dt >= date_format(") && sql.contains(&dt_filter),
                "{name} must prune on dt: {sql}"
            );
        }
    }
}

#[test]
fn rbac_binds_get_list_on_pods_and_nodes_to_the_access_entry_group() {
    let t = Template::load();
    let group = t.constant("Kubernetes", "Group");
    let entry = t.props("ExtractorAccessEntry");
    let groups: Vec<String> = one_or_many(at(entry, &["KubernetesGroups"]))
        .iter()
        .map(|g| t.text(g))
        .collect();
    assert_eq!(groups, vec![group.to_owned()]);
    assert_eq!(
        Template::reference(at(entry, &["PrincipalArn"])),
        "ExtractorRole.Arn"
    );
    assert!(
        entry.get("AccessPolicies").is_none(),
        "the group's rights come from rbac.yaml only"
    );

    let docs = yaml_documents("kubernetes/rbac.yaml");
    let kind = |k: &str| {
        docs.iter()
            .filter(|d| d.get("kind").and_then(Value::as_str) == Some(k))
            .collect::<Vec<_>>()
    };
    let roles = kind("ClusterRole");
    let bindings = kind("ClusterRoleBinding");
    assert_eq!((roles.len(), bindings.len(), docs.len()), (1, 1, 2));
    let rules = one_or_many(at(roles[0], &["rules"]));
    assert_eq!(rules.len(), 1);
    let set = |key: &str| -> BTreeSet<String> {
        one_or_many(at(rules[0], &[key]))
            .iter()
            .map(|v| t.text(v))
            .collect()
    };
    assert_eq!(set("apiGroups"), BTreeSet::from([String::new()]));
    assert_eq!(
        set("resources"),
        BTreeSet::from(["nodes".to_owned(), "pods".to_owned()])
    );
    assert_eq!(
        set("verbs"),
        BTreeSet::from(["get".to_owned(), "list".to_owned()])
    );
    assert_eq!(
        at(bindings[0], &["roleRef", "name"]),
        at(roles[0], &["metadata", "name"])
    );
    let subjects = one_or_many(at(bindings[0], &["subjects"]));
    assert_eq!(subjects.len(), 1);
    assert_eq!(t.text(at(subjects[0], &["kind"])), "Group");
    assert_eq!(t.text(at(subjects[0], &["name"])), group);
}

#[test]
fn outputs_name_everything_the_load_test_and_users_need() {
    let t = Template::load();
    let outputs: BTreeSet<&str> = at(&t.doc, &["Outputs"])
        .as_mapping()
        .expect("Outputs is a map")
        .keys()
        .map(|k| as_str(k, "output"))
        .collect();
    for needed in [
        "DataBucketName",
        "FlowsPrefix",
        "ErrorsPrefix",
        "SnapshotBucketName",
        "SnapshotKey",
        "FlowStreamName",
        "TransformFunctionName",
        "ExtractorFunctionName",
        "ExtractorRoleArn",
        "KubernetesGroup",
        "GlueDatabaseName",
        "FlowsTableName",
        "ResultsViewName",
        "AthenaWorkGroupName",
        "AthenaResultsBucketName",
    ] {
        assert!(outputs.contains(needed), "output {needed} missing");
    }
}

#[test]
fn checkov_suppressions_carry_a_written_reason() {
    let t = Template::load();
    let Value::Mapping(resources) = at(&t.doc, &["Resources"]) else {
        panic!("Resources is not a map")
    };
    let mut suppressed = 0;
    for (name, resource) in resources {
        let Some(skips) = resource
            .get("Metadata")
            .and_then(|m| m.get("checkov"))
            .and_then(|c| c.get("skip"))
        else {
            continue;
        };
        for skip in one_or_many(skips) {
            let id = t.text(at(skip, &["id"]));
            assert!(
                id.starts_with("CKV_AWS_") || id.starts_with("CKV2_AWS_"),
                "{name:?}: {id}"
            );
            let reason = t.text(at(skip, &["comment"]));
            assert!(
                reason.split_whitespace().count() >= 8,
                "{name:?} suppresses {id} without a real reason: {reason:?}"
            );
            suppressed += 1;
        }
    }
    assert!(
        suppressed > 0,
        "no suppression found: was the Metadata layout changed?"
    );
}

/// The documents of a multi-document YAML file.
fn yaml_documents(relative: &str) -> Vec<Value> {
    let text = read(relative);
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap_or_else(|e| panic!("{relative}: {e}")))
        .collect()
}

#[test]
fn demo_app_spreads_two_servers_across_zones_behind_the_service_the_client_calls() {
    let t = Template::load();
    let docs = yaml_documents("kubernetes/demo/demo-app.yaml");
    let named = |kind: &str, name: &str| {
        docs.iter()
            .find(|d| {
                d.get("kind").and_then(Value::as_str) == Some(kind)
                    && at(d, &["metadata", "name"]).as_str() == Some(name)
            })
            .unwrap_or_else(|| panic!("{kind}/{name} missing from demo-app.yaml"))
    };
    let server = named("Deployment", "server-dep");
    assert_eq!(as_u64(at(server, &["spec", "replicas"]), "replicas"), 2);
    let pod = at(server, &["spec", "template"]);
    assert_eq!(
        at(pod, &["metadata", "labels", "app"]),
        &Value::from("server")
    );
    let spread = one_or_many(at(pod, &["spec", "topologySpreadConstraints"]));
    assert_eq!(spread.len(), 1);
    assert_eq!(
        t.text(at(spread[0], &["topologyKey"])),
        "topology.kubernetes.io/zone"
    );
    assert_eq!(as_u64(at(spread[0], &["maxSkew"]), "maxSkew"), 1);
    assert_eq!(
        t.text(at(spread[0], &["whenUnsatisfiable"])),
        "DoNotSchedule"
    );
    assert_eq!(
        at(spread[0], &["labelSelector", "matchLabels", "app"]),
        &Value::from("server")
    );

    let service = named("Service", "server-svc");
    assert_eq!(
        at(service, &["spec", "selector", "app"]),
        &Value::from("server")
    );
    let client = named("Deployment", "client-dep");
    let client_pod = at(client, &["spec", "template"]);
    assert_eq!(
        at(client_pod, &["metadata", "labels", "app"]),
        &Value::from("client")
    );
    let script =
        serde_yaml::to_string(at(client_pod, &["spec", "containers"])).expect("containers");
    assert!(
        script.contains("http://server-svc") && script.contains("sleep 2"),
        "the client must loop against server-svc: {script}"
    );
    let namespace = named("Namespace", "crossaz-demo");
    for doc in [server, service, client] {
        assert_eq!(
            at(doc, &["metadata", "namespace"]),
            at(namespace, &["metadata", "name"])
        );
    }
}

#[test]
fn eksctl_cluster_is_the_walkthrough_cluster_with_access_entries() {
    let docs = yaml_documents("kubernetes/eksctl/cluster.yaml");
    assert_eq!(docs.len(), 1);
    let config = &docs[0];
    assert_eq!(
        at(config, &["apiVersion"]),
        &Value::from("eksctl.io/v1alpha5")
    );
    assert_eq!(at(config, &["kind"]), &Value::from("ClusterConfig"));
    assert_eq!(at(config, &["metadata", "name"]), &Value::from("cross-az"));
    // The template's access entry needs API or API_AND_CONFIG_MAP.
    assert_eq!(
        at(config, &["accessConfig", "authenticationMode"]),
        &Value::from("API_AND_CONFIG_MAP")
    );
    let groups = one_or_many(at(config, &["managedNodeGroups"]));
    assert_eq!(groups.len(), 1);
    assert_eq!(at(groups[0], &["name"]), &Value::from("ng-1"));
    assert!(
        as_u64(at(groups[0], &["desiredCapacity"]), "desiredCapacity") >= 2,
        "one node per zone at least"
    );
}
