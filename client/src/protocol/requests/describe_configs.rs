//! DescribeConfigs request (v1–4).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// Resource type of a topic.
pub const RESOURCE_TYPE_TOPIC: i8 = 2;
/// Resource type of a broker.
pub const RESOURCE_TYPE_BROKER: i8 = 4;

/// DescribeConfigs request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeConfigsRequest {
    /// Resources to describe.
    pub resources: Vec<DescribeConfigsResource>,
    /// Whether to include synonyms.
    pub include_synonyms: bool,
    /// Whether to include documentation (v3+).
    pub include_documentation: bool,
}

/// One resource to describe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeConfigsResource {
    /// 2 topic, 4 broker (others are answered with an error).
    pub resource_type: i8,
    /// Topic name or broker id.
    pub resource_name: String,
    /// Keys wanted; `None` for all.
    pub configuration_keys: Option<Vec<String>>,
}

impl DescribeConfigsRequest {
    pub fn decode(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        let flex = v >= 4;
        let resources = r.array(flex, 4, "resources", |r| {
            let resource_type = r.i8()?;
            let resource_name = r.string(flex, "resource_name")?;
            let configuration_keys =
                r.nullable_array(flex, 1, "configuration_keys", |r| r.string(flex, "key"))?;
            r.tagged_fields(flex)?;
            Ok(DescribeConfigsResource {
                resource_type,
                resource_name,
                configuration_keys,
            })
        })?;
        let include_synonyms = r.bool()?;
        let include_documentation = if v >= 3 { r.bool()? } else { false };
        r.tagged_fields(flex)?;
        Ok(Self {
            resources,
            include_synonyms,
            include_documentation,
        })
    }
}
