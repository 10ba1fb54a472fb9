//! The known flow-log fields of versions 2 to 8: their AWS names and the version that added them.
//!
//! This file is the one list of field names in the workspace; the parser, the renderer and the
//! format checks all go through [`Field`].

/// Declares [`Field`] with its AWS name and version from one table.
macro_rules! fields {
    ($($(#[$meta:meta])* $variant:ident = $name:literal, $version:literal;)+) => {
        /// A flow-log field this crate knows and types. Fields outside this list are kept as
        /// opaque strings ([`super::FlowRecord::unknown`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Field {
            $($(#[$meta])* $variant,)+
        }

        impl Field {
            /// Every known field, in AWS documentation order.
            pub const ALL: &'static [Field] = &[$(Field::$variant,)+];

            /// The AWS name, as written in a format string (`${name}`) or a header line.
            pub fn name(self) -> &'static str {
                match self {
                    $(Field::$variant => $name,)+
                }
            }

            /// The flow-log version that introduced the field.
            pub fn version(self) -> u8 {
                match self {
                    $(Field::$variant => $version,)+
                }
            }

            /// The field with this AWS name. Underscores are accepted for hyphens
            /// (`account_id`), the spelling Athena and some tools use.
            pub fn from_name(name: &str) -> Option<Field> {
                let found = match name {
                    $($name => Some(Field::$variant),)+
                    _ => None,
                };
                if found.is_none() && name.contains('_') {
                    return Field::from_name(&name.replace('_', "-"));
                }
                found
            }
        }
    };
}

fields! {
    /// `version`.
    Version = "version", 2;
    /// `account-id`.
    AccountId = "account-id", 2;
    /// `interface-id`.
    InterfaceId = "interface-id", 2;
    /// `srcaddr`.
    SrcAddr = "srcaddr", 2;
    /// `dstaddr`.
    DstAddr = "dstaddr", 2;
    /// `srcport`.
    SrcPort = "srcport", 2;
    /// `dstport`.
    DstPort = "dstport", 2;
    /// `protocol`.
    Protocol = "protocol", 2;
    /// `packets`.
    Packets = "packets", 2;
    /// `bytes`.
    Bytes = "bytes", 2;
    /// `start`.
    Start = "start", 2;
    /// `end`.
    End = "end", 2;
    /// `action`.
    Action = "action", 2;
    /// `log-status`.
    LogStatus = "log-status", 2;
    /// `vpc-id`.
    VpcId = "vpc-id", 3;
    /// `subnet-id`.
    SubnetId = "subnet-id", 3;
    /// `instance-id`.
    InstanceId = "instance-id", 3;
    /// `tcp-flags`.
    TcpFlags = "tcp-flags", 3;
    /// `type`.
    Type = "type", 3;
    /// `pkt-srcaddr`.
    PktSrcAddr = "pkt-srcaddr", 3;
    /// `pkt-dstaddr`.
    PktDstAddr = "pkt-dstaddr", 3;
    /// `region`.
    Region = "region", 4;
    /// `az-id`.
    AzId = "az-id", 4;
    /// `sublocation-type`.
    SublocationType = "sublocation-type", 4;
    /// `sublocation-id`.
    SublocationId = "sublocation-id", 4;
    /// `pkt-src-aws-service`.
    PktSrcAwsService = "pkt-src-aws-service", 5;
    /// `pkt-dst-aws-service`.
    PktDstAwsService = "pkt-dst-aws-service", 5;
    /// `flow-direction`.
    FlowDirection = "flow-direction", 5;
    /// `traffic-path`.
    TrafficPath = "traffic-path", 5;
    /// `ecs-cluster-arn`.
    EcsClusterArn = "ecs-cluster-arn", 7;
    /// `ecs-cluster-name`.
    EcsClusterName = "ecs-cluster-name", 7;
    /// `ecs-container-instance-arn`.
    EcsContainerInstanceArn = "ecs-container-instance-arn", 7;
    /// `ecs-container-instance-id`.
    EcsContainerInstanceId = "ecs-container-instance-id", 7;
    /// `ecs-container-id`.
    EcsContainerId = "ecs-container-id", 7;
    /// `ecs-second-container-id`.
    EcsSecondContainerId = "ecs-second-container-id", 7;
    /// `ecs-service-name`.
    EcsServiceName = "ecs-service-name", 7;
    /// `ecs-task-definition-arn`.
    EcsTaskDefinitionArn = "ecs-task-definition-arn", 7;
    /// `ecs-task-arn`.
    EcsTaskArn = "ecs-task-arn", 7;
    /// `ecs-task-id`.
    EcsTaskId = "ecs-task-id", 7;
    /// `reject-reason`.
    RejectReason = "reject-reason", 8;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for &field in Field::ALL {
            assert!(seen.insert(field.name()), "duplicate name {}", field.name());
            assert_eq!(Field::from_name(field.name()), Some(field));
            assert_eq!(
                Field::from_name(&field.name().replace('-', "_")),
                Some(field)
            );
        }
        assert_eq!(Field::ALL.len(), 40);
    }

    #[test]
    fn versions_follow_the_aws_table() {
        let cases = [
            ("version", 2),
            ("log-status", 2),
            ("pkt-dstaddr", 3),
            ("tcp-flags", 3),
            ("az-id", 4),
            ("traffic-path", 5),
            ("flow-direction", 5),
            ("ecs-task-id", 7),
            ("reject-reason", 8),
        ];
        for (name, version) in cases {
            assert_eq!(
                Field::from_name(name).map(Field::version),
                Some(version),
                "{name}"
            );
        }
    }

    #[test]
    fn unknown_names_are_not_fields() {
        for name in [
            "resource-id",
            "encryption-status",
            "Version",
            "",
            "pkt_src-addr",
        ] {
            assert_eq!(Field::from_name(name), None, "{name}");
        }
    }
}
