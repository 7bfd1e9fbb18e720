//! Produce request (v0–9). Record sets stay raw `Bytes` borrowed from the frame:
//! the partition validates batches, the connection never decodes records.

use bytes::Bytes;

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// Produce request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceRequest {
    /// Transactional id (v3+) of a transactional producer.
    pub transactional_id: Option<String>,
    /// 0: no response; 1: leader wrote it; -1: all in-sync replicas have it.
    pub acks: i16,
    /// How long to wait for acks=all.
    pub timeout_ms: i32,
    /// Per-topic data.
    pub topic_data: Vec<ProduceTopic>,
}

/// One topic's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceTopic {
    /// Topic name.
    pub name: String,
    /// Per-partition record sets.
    pub partition_data: Vec<ProducePartition>,
}

/// One partition's record set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducePartition {
    /// Partition index.
    pub index: i32,
    /// Raw record batches as sent (nullable on the wire).
    pub records: Option<Bytes>,
}

impl ProduceRequest {
    pub fn decode(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        let flex = v >= 9;
        let transactional_id = if v >= 3 {
            r.nullable_string(flex, "transactional_id")?
        } else {
            None
        };
        let acks = r.i16()?;
        let timeout_ms = r.i32()?;
        let topic_data = r.array(flex, 2, "topic_data", |r| {
            let name = r.string(flex, "topic name")?;
            let partition_data = r.array(flex, 5, "partition_data", |r| {
                let index = r.i32()?;
                let records = r.nullable_bytes(flex, "records")?;
                r.tagged_fields(flex)?;
                Ok(ProducePartition { index, records })
            })?;
            r.tagged_fields(flex)?;
            Ok(ProduceTopic {
                name,
                partition_data,
            })
        })?;
        r.tagged_fields(flex)?;
        Ok(Self {
            transactional_id,
            acks,
            timeout_ms,
            topic_data,
        })
    }
}
