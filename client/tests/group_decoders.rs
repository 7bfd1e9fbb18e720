//! The consumer-group request decoders (not advertised until the coordinator
//! serves them) against kafka-protocol's encoders, version by version, and the
//! hostile-count case.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use weir_client::protocol::Reader;
use weir_client::protocol::requests::{
    delete_groups, describe_groups, find_coordinator, heartbeat, join_group, leave_group,
    list_groups, offset_commit, offset_delete, offset_fetch, sync_group,
};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

fn body<R: Encodable>(r: &R, v: i16) -> Reader {
    let mut buf = BytesMut::new();
    r.encode(&mut buf, v).unwrap();
    Reader::new(buf.freeze())
}

#[test]
fn find_coordinator_all_versions() {
    for v in 0..=3 {
        let r = FindCoordinatorRequest::default()
            .with_key(s("g1"))
            .with_key_type(0);
        let got = find_coordinator::FindCoordinatorRequest::decode(&mut body(&r, v), v).unwrap();
        assert_eq!((got.key.as_str(), got.key_type), ("g1", 0), "v{v}");
    }
}

#[test]
fn join_group_all_versions() {
    for v in 0..=7 {
        let protocol = join_group_request::JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(Bytes::from_static(b"meta"));
        let mut r = JoinGroupRequest::default()
            .with_group_id(GroupId(s("g1")))
            .with_session_timeout_ms(10_000)
            .with_member_id(s("m-1"))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![protocol]);
        if v >= 1 {
            r = r.with_rebalance_timeout_ms(30_000);
        }
        if v >= 5 {
            r = r.with_group_instance_id(Some(s("i-1")));
        }
        let got = join_group::JoinGroupRequest::decode(&mut body(&r, v), v).unwrap();
        assert_eq!(got.group_id, "g1");
        assert_eq!(
            got.rebalance_timeout_ms,
            if v >= 1 { 30_000 } else { 10_000 },
            "v{v}"
        );
        assert_eq!(
            got.group_instance_id.as_deref(),
            if v >= 5 { Some("i-1") } else { None }
        );
        assert_eq!(
            got.protocols,
            vec![("range".to_string(), Bytes::from_static(b"meta"))]
        );
    }
}

#[test]
fn sync_heartbeat_leave_all_versions() {
    for v in 0..=5 {
        let a = sync_group_request::SyncGroupRequestAssignment::default()
            .with_member_id(s("m-1"))
            .with_assignment(Bytes::from_static(b"asg"));
        let mut r = SyncGroupRequest::default()
            .with_group_id(GroupId(s("g1")))
            .with_generation_id(3)
            .with_member_id(s("m-1"))
            .with_assignments(vec![a]);
        if v >= 5 {
            r = r
                .with_protocol_type(Some(s("consumer")))
                .with_protocol_name(Some(s("range")));
        }
        let got = sync_group::SyncGroupRequest::decode(&mut body(&r, v), v).unwrap();
        assert_eq!(
            (got.generation_id, got.assignments.len()),
            (3, 1),
            "sync v{v}"
        );
        assert_eq!(
            got.protocol_name.as_deref(),
            if v >= 5 { Some("range") } else { None }
        );
    }
    for v in 0..=4 {
        let r = HeartbeatRequest::default()
            .with_group_id(GroupId(s("g1")))
            .with_generation_id(2)
            .with_member_id(s("m"));
        let got = heartbeat::HeartbeatRequest::decode(&mut body(&r, v), v).unwrap();
        assert_eq!(
            (got.generation_id, got.member_id.as_str()),
            (2, "m"),
            "heartbeat v{v}"
        );
    }
    for v in 0..=4 {
        let r = if v >= 3 {
            let members = vec![
                leave_group_request::MemberIdentity::default().with_member_id(s("a")),
                leave_group_request::MemberIdentity::default()
                    .with_member_id(s(""))
                    .with_group_instance_id(Some(s("i"))),
            ];
            LeaveGroupRequest::default()
                .with_group_id(GroupId(s("g1")))
                .with_members(members)
        } else {
            LeaveGroupRequest::default()
                .with_group_id(GroupId(s("g1")))
                .with_member_id(s("a"))
        };
        let got = leave_group::LeaveGroupRequest::decode(&mut body(&r, v), v).unwrap();
        assert_eq!(got.members[0].0, "a", "leave v{v}");
        assert_eq!(got.members.len(), if v >= 3 { 2 } else { 1 });
    }
}

#[test]
fn offset_commit_and_fetch_all_versions() {
    for v in 2..=8 {
        let p = offset_commit_request::OffsetCommitRequestPartition::default()
            .with_partition_index(4)
            .with_committed_offset(1234)
            .with_committed_metadata(Some(s("md")));
        let t = offset_commit_request::OffsetCommitRequestTopic::default()
            .with_name(TopicName(s("t")))
            .with_partitions(vec![p]);
        let r = OffsetCommitRequest::default()
            .with_group_id(GroupId(s("g1")))
            .with_generation_id_or_member_epoch(5)
            .with_member_id(s("m"))
            .with_topics(vec![t]);
        let got = offset_commit::OffsetCommitRequest::decode(&mut body(&r, v), v).unwrap();
        let part = &got.topics[0].partitions[0];
        assert_eq!(
            (
                got.generation_id,
                part.partition_index,
                part.committed_offset
            ),
            (5, 4, 1234),
            "commit v{v}"
        );
        assert_eq!(part.committed_metadata.as_deref(), Some("md"));
    }
    for v in 1..=7 {
        let t = offset_fetch_request::OffsetFetchRequestTopic::default()
            .with_name(TopicName(s("t")))
            .with_partition_indexes(vec![0, 1]);
        let r = OffsetFetchRequest::default()
            .with_group_id(GroupId(s("g1")))
            .with_topics(Some(vec![t]));
        let got = offset_fetch::OffsetFetchRequest::decode(&mut body(&r, v), v).unwrap();
        assert_eq!(
            got.topics,
            Some(vec![("t".to_string(), vec![0, 1])]),
            "fetch v{v}"
        );
        if v >= 2 {
            let all = OffsetFetchRequest::default()
                .with_group_id(GroupId(s("g1")))
                .with_topics(None);
            assert_eq!(
                offset_fetch::OffsetFetchRequest::decode(&mut body(&all, v), v)
                    .unwrap()
                    .topics,
                None
            );
        }
    }
}

#[test]
fn group_admin_all_versions() {
    for v in 0..=5 {
        let r = DescribeGroupsRequest::default()
            .with_groups(vec![GroupId(s("g1")), GroupId(s("g2"))])
            .with_include_authorized_operations(v >= 3);
        let got = describe_groups::DescribeGroupsRequest::decode(&mut body(&r, v), v).unwrap();
        assert_eq!(got.groups, ["g1", "g2"], "describe v{v}");
        assert_eq!(got.include_authorized_operations, v >= 3, "describe v{v}");
    }
    for v in 0..=5 {
        let mut r = ListGroupsRequest::default();
        if v >= 4 {
            r = r.with_states_filter(vec![s("Stable")]);
        }
        if v >= 5 {
            r = r.with_types_filter(vec![s("classic")]);
        }
        let got = list_groups::ListGroupsRequest::decode(&mut body(&r, v), v).unwrap();
        let states: &[&str] = if v >= 4 { &["Stable"] } else { &[] };
        let types: &[&str] = if v >= 5 { &["classic"] } else { &[] };
        assert_eq!(got.states_filter, states, "list v{v}");
        assert_eq!(got.types_filter, types, "list v{v}");
    }
    for v in 0..=2 {
        let r = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("g1"))]);
        let got = delete_groups::DeleteGroupsRequest::decode(&mut body(&r, v), v).unwrap();
        assert_eq!(got.groups_names, ["g1"], "delete v{v}");
    }
    let p =
        |i| offset_delete_request::OffsetDeleteRequestPartition::default().with_partition_index(i);
    let t = offset_delete_request::OffsetDeleteRequestTopic::default()
        .with_name(TopicName(s("t")))
        .with_partitions(vec![p(0), p(3)]);
    let r = OffsetDeleteRequest::default()
        .with_group_id(GroupId(s("g1")))
        .with_topics(vec![t]);
    let got = offset_delete::OffsetDeleteRequest::decode(&mut body(&r, 0), 0).unwrap();
    assert_eq!(got.group_id, "g1");
    assert_eq!(got.topics, vec![("t".to_string(), vec![0, 3])]);
}

/// A compact group id longer than any classic string decodes (so the broker can
/// answer INVALID_GROUP_ID); a classic one is bounded by its i16 length.
#[test]
fn long_compact_group_ids_decode() {
    let long = "g".repeat(64 * 1024);
    let r = HeartbeatRequest::default()
        .with_group_id(GroupId(s(&long)))
        .with_generation_id(1)
        .with_member_id(s("m"));
    let got = heartbeat::HeartbeatRequest::decode(&mut body(&r, 4), 4).unwrap();
    assert_eq!(got.group_id.len(), 64 * 1024);
}

#[test]
fn hostile_counts_are_errors() {
    let mut r = Reader::new(Bytes::from_static(&[
        0, 1, b'g', 0, 0, 0, 1, 0, 0, 0, 10, 0, 0, 0, 1, b'c', 0x7f, 0xff, 0xff, 0xff,
    ]));
    assert!(join_group::JoinGroupRequest::decode(&mut r, 1).is_err());
    let mut r = Reader::new(Bytes::from_static(&[0, 1, b'g', 0x7f, 0xff, 0xff, 0xff]));
    assert!(offset_fetch::OffsetFetchRequest::decode(&mut r, 1).is_err());
}
