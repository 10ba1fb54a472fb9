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

/// A set of known fields, for reading a line in stages ([`super::SplitLine::read`]). It can
/// also hold the format's unknown columns ([`FieldSet::UNKNOWN`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[must_use]
pub struct FieldSet(u64);

impl FieldSet {
    /// No field.
    pub const EMPTY: FieldSet = FieldSet(0);
    /// Every field, known or not.
    pub const ALL: FieldSet = FieldSet(u64::MAX);
    /// The columns whose names this crate does not know (kept raw in `FlowRecord::unknown`).
    pub const UNKNOWN: FieldSet = FieldSet(1 << 63);

    /// The set of `fields`.
    pub const fn of(fields: &[Field]) -> FieldSet {
        let mut bits = 0;
        let mut i = 0;
        while i < fields.len() {
            bits |= 1 << fields[i] as u64;
            i += 1;
        }
        FieldSet(bits)
    }

    /// The set with these bits (bit `Field as u64` per field, bit 63 for the unknown columns).
    pub const fn from_bits(bits: u64) -> FieldSet {
        FieldSet(bits)
    }

    /// Whether `field` is in the set.
    #[inline]
    pub const fn contains(self, field: Field) -> bool {
        self.0 & (1 << field as u64) != 0
    }

    /// Whether the set holds the unknown columns.
    #[inline]
    pub const fn has_unknown(self) -> bool {
        self.0 & Self::UNKNOWN.0 != 0
    }

    /// The known fields of the set, in `Field::ALL` order.
    pub fn fields(self) -> impl Iterator<Item = Field> {
        let mut bits = self.0 & !Self::UNKNOWN.0;
        std::iter::from_fn(move || {
            let at = bits.trailing_zeros() as usize;
            bits &= bits.wrapping_sub(1);
            Field::ALL.get(at).copied()
        })
    }

    /// The fields of either set.
    pub const fn union(self, other: FieldSet) -> FieldSet {
        FieldSet(self.0 | other.0)
    }

    /// The fields in both sets.
    pub const fn intersection(self, other: FieldSet) -> FieldSet {
        FieldSet(self.0 & other.0)
    }

    /// The fields of this set that are not in `other`.
    pub const fn without(self, other: FieldSet) -> FieldSet {
        FieldSet(self.0 & !other.0)
    }
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
