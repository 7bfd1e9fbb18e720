//! IncrementalAlterConfigs request (v0–1).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// `config_operation` SET: give the config this value.
pub const OP_SET: i8 = 0;
/// `config_operation` DELETE: remove the override (back to the default).
pub const OP_DELETE: i8 = 1;
/// `config_operation` APPEND: add values to a list config.
pub const OP_APPEND: i8 = 2;
/// `config_operation` SUBTRACT: remove values from a list config.
pub const OP_SUBTRACT: i8 = 3;

/// IncrementalAlterConfigs request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncrementalAlterConfigsRequest {
    /// Resources to alter.
    pub resources: Vec<AlterConfigsResource>,
    /// Validate only, change nothing.
    pub validate_only: bool,
}

/// One resource and the changes to make to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterConfigsResource {
    /// 2 topic, 4 broker (others are answered with an error).
    pub resource_type: i8,
    /// Topic name or broker id.
    pub resource_name: String,
    /// The changes, applied together.
    pub configs: Vec<AlterableConfig>,
}

/// One change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterableConfig {
    /// Config name.
    pub name: String,
    /// [`OP_SET`], [`OP_DELETE`], [`OP_APPEND`] or [`OP_SUBTRACT`] (others are
    /// answered with an error).
    pub config_operation: i8,
    /// The value (null for DELETE).
    pub value: Option<String>,
}

impl IncrementalAlterConfigsRequest {
    pub fn decode(r: &mut Reader, v: i16) -> Result<Self, DecodeError> {
        let flex = v >= 1;
        let resources = r.array(flex, 4, "resources", |r| {
            let resource_type = r.i8()?;
            let resource_name = r.string(flex, "resource_name")?;
            let configs = r.array(flex, 4, "configs", |r| {
                let name = r.string(flex, "config name")?;
                let config_operation = r.i8()?;
                let value = r.nullable_string(flex, "config value")?;
                r.tagged_fields(flex)?;
                Ok(AlterableConfig {
                    name,
                    config_operation,
                    value,
                })
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
