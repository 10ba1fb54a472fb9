//! Writing a [`FlowRecord`] back as a flow-log line: the inverse of `parse_line`.
//!
//! Used by the load generator and by tests to produce lines in any format; never on the
//! processing path.

use std::fmt::{Display, Write};

use super::format::Column;
use super::{ABSENT, Action, Field, FlowDirection, FlowFormat, FlowRecord, LogStatus};

impl FlowFormat {
    /// Appends `record` to `out` as one line of this format (no newline): values in format order,
    /// single spaces, `-` for `None` and for unknown fields the record does not carry.
    ///
    /// Strings are written as they are: a string that is empty, contains whitespace or equals
    /// `-` does not read back the same.
    pub fn render_line(&self, record: &FlowRecord<'_>, out: &mut String) {
        for (index, column) in self.columns.iter().enumerate() {
            if index > 0 {
                out.push(' ');
            }
            match column {
                Column::Known(field) => render_field(record, *field, out),
                Column::Unknown(name) => {
                    let value = record.unknown.iter().find(|(n, _)| n == name);
                    out.push_str(value.map_or(ABSENT, |(_, v)| v));
                }
            }
        }
    }
}

fn render_field(record: &FlowRecord<'_>, field: Field, out: &mut String) {
    let ecs = &record.ecs;
    match field {
        Field::Version => number(out, record.version),
        Field::AccountId => text(out, record.account_id),
        Field::InterfaceId => text(out, record.interface_id),
        Field::SrcAddr => number(out, record.srcaddr),
        Field::DstAddr => number(out, record.dstaddr),
        Field::SrcPort => number(out, record.srcport),
        Field::DstPort => number(out, record.dstport),
        Field::Protocol => number(out, record.protocol),
        Field::Packets => number(out, record.packets),
        Field::Bytes => number(out, record.bytes),
        Field::Start => number(out, record.start),
        Field::End => number(out, record.end),
        Field::Action => text(out, record.action.map(Action::as_str)),
        Field::LogStatus => text(out, record.log_status.map(LogStatus::as_str)),
        Field::VpcId => text(out, record.vpc_id),
        Field::SubnetId => text(out, record.subnet_id),
        Field::InstanceId => text(out, record.instance_id),
        Field::TcpFlags => number(out, record.tcp_flags),
        Field::Type => text(out, record.traffic_type),
        Field::PktSrcAddr => number(out, record.pkt_srcaddr),
        Field::PktDstAddr => number(out, record.pkt_dstaddr),
        Field::Region => text(out, record.region),
        Field::AzId => text(out, record.az_id),
        Field::SublocationType => text(out, record.sublocation_type),
        Field::SublocationId => text(out, record.sublocation_id),
        Field::PktSrcAwsService => text(out, record.pkt_src_aws_service),
        Field::PktDstAwsService => text(out, record.pkt_dst_aws_service),
        Field::FlowDirection => text(out, record.flow_direction.map(FlowDirection::as_str)),
        Field::TrafficPath => number(out, record.traffic_path),
        Field::EcsClusterArn => text(out, ecs.cluster_arn),
        Field::EcsClusterName => text(out, ecs.cluster_name),
        Field::EcsContainerInstanceArn => text(out, ecs.container_instance_arn),
        Field::EcsContainerInstanceId => text(out, ecs.container_instance_id),
        Field::EcsContainerId => text(out, ecs.container_id),
        Field::EcsSecondContainerId => text(out, ecs.second_container_id),
        Field::EcsServiceName => text(out, ecs.service_name),
        Field::EcsTaskDefinitionArn => text(out, ecs.task_definition_arn),
        Field::EcsTaskArn => text(out, ecs.task_arn),
        Field::EcsTaskId => text(out, ecs.task_id),
        Field::RejectReason => text(out, record.reject_reason),
    }
}

fn text(out: &mut String, value: Option<&str>) {
    out.push_str(value.unwrap_or(ABSENT));
}

fn number(out: &mut String, value: Option<impl Display>) {
    match value {
        // Writing into a String cannot fail.
        Some(value) => {
            let _ = write!(out, "{value}");
        }
        None => out.push_str(ABSENT),
    }
}
