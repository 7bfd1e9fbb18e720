//! The topics a consumer-group member subscribes to, read from its JoinGroup
//! metadata (Kafka's ConsumerProtocolSubscription: version, topics, …). Only
//! OffsetDelete needs this: a group may not drop offsets of a topic it consumes.

use bytes::Bytes;
use weir_client::protocol::Reader;

/// The subscribed topics in consumer-protocol `metadata`, or `None` when it does
/// not parse (then the caller must assume the member consumes every topic).
pub fn subscribed_topics(metadata: &Bytes) -> Option<Vec<String>> {
    let mut r = Reader::new(metadata.clone());
    let _version = r.i16().ok()?;
    r.array(false, 2, "topics", |r| r.string(false, "topic"))
        .ok()
}

/// A consumer-protocol subscription (v1, no user data) to `topics`, for tests.
#[cfg(test)]
pub fn subscription(topics: &[&str]) -> Bytes {
    let mut out = vec![0, 1];
    out.extend((topics.len() as i32).to_be_bytes());
    for t in topics {
        out.extend((t.len() as i16).to_be_bytes());
        out.extend(t.as_bytes());
    }
    out.extend((-1i32).to_be_bytes()); // null user data
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_read_and_garbage_is_none() {
        assert_eq!(
            subscribed_topics(&subscription(&["a", "bb"])),
            Some(vec!["a".to_string(), "bb".to_string()])
        );
        assert_eq!(subscribed_topics(&Bytes::from_static(&[0, 1, 0x7f])), None);
    }
}
