//! AlterConfigs request (v0–2): the legacy API that replaces a resource's whole
//! set of overrides.

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// AlterConfigs request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterConfigsRequest {
    /// Resources to alter.
    pub resources: Vec<AlterConfigsResource>,
    /// Validate only, change nothing.
    pub validate_only: bool,
}

/// One resource and its new overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterConfigsResource {
    /// 2 topic, 4 broker (others are answered with an error).
    pub resource_type: i8,
    /// Topic name or broker id.
    pub resource_name: String,
    /// The overrides the resource is to have (all others are removed).
    pub configs: Vec<AlterableConfig>,
}

/// One override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterableConfig {
    /// Config name.
    pub name: String,
    /// Value; null leaves the config at its default.
    pub value: Option<String>,
}

impl AlterConfigsRequest {
    pub fn decode(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        let flex = v >= 2;
        let resources = r.array(flex, 4, "resources", |r| {
            let resource_type = r.i8()?;
            let resource_name = r.string(flex, "resource_name")?;
            let configs = r.array(flex, 3, "configs", |r| {
                let name = r.string(flex, "config name")?;
                let value = r.nullable_string(flex, "config value")?;
                r.tagged_fields(flex)?;
                Ok(AlterableConfig { name, value })
            })?;
            r.tagged_fields(flex)?;
            Ok(AlterConfigsResource {
                resource_type,
                resource_name,
                configs,
            })
        })?;
        let validate_only = r.bool()?;
        r.tagged_fields(flex)?;
        Ok(Self {
            resources,
            validate_only,
        })
    }
}
