//! DescribeConfigs response (v4).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// DescribeConfigs response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeConfigsResponse {
    /// Quota throttle in milliseconds.
    pub throttle_time_ms: i32,
    /// Each resource asked for.
    pub results: Vec<DescribeConfigsResult>,
}

/// One resource's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeConfigsResult {
    /// Error, 0 if none.
    pub error_code: i16,
    /// Error message, null if none.
    pub error_message: Option<String>,
    /// Resource type (2 topic, 4 broker, ...).
    pub resource_type: i8,
    /// Resource name.
    pub resource_name: String,
    /// Each configuration entry.
    pub configs: Vec<DescribeConfigsResourceResult>,
}

/// One configuration entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeConfigsResourceResult {
    /// Config name.
    pub name: String,
    /// Value (null when sensitive).
    pub value: Option<String>,
    /// Whether it is read-only.
    pub read_only: bool,
    /// Where the value comes from.
    pub config_source: i8,
    /// Whether it is sensitive.
    pub is_sensitive: bool,
    /// Other sources of the value, in precedence order.
    pub synonyms: Vec<DescribeConfigsSynonym>,
    /// Data type (BOOLEAN, STRING, INT, ...).
    pub config_type: i8,
    /// Documentation, if asked for.
    pub documentation: Option<String>,
}

/// A synonym of a configuration entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeConfigsSynonym {
    /// Synonym name.
    pub name: String,
    /// Its value.
    pub value: Option<String>,
    /// Its source.
    pub source: i8,
}

impl DescribeConfigsResponse {
    /// Decodes a v4 body.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let throttle_time_ms = r.i32()?;
        let results = r.array(true, 7, "results", |r| {
            let error_code = r.i16()?;
            let error_message = r.nullable_string(true, "error_message")?;
            let resource_type = r.i8()?;
            let resource_name = r.string(true, "resource_name")?;
            let configs = r.array(true, 9, "configs", decode_config)?;
            r.tagged_fields(true)?;
            Ok(DescribeConfigsResult {
                error_code,
                error_message,
                resource_type,
                resource_name,
                configs,
            })
        })?;
        r.tagged_fields(true)?;
        r.finish()?;
        Ok(Self {
            throttle_time_ms,
            results,
        })
    }
}

fn decode_config(r: &mut Reader) -> Result<DescribeConfigsResourceResult, DecodeError> {
    let name = r.string(true, "config name")?;
    let value = r.nullable_string(true, "config value")?;
    let read_only = r.bool()?;
    let config_source = r.i8()?;
    let is_sensitive = r.bool()?;
    let synonyms = r.array(true, 4, "synonyms", |r| {
        let name = r.string(true, "synonym name")?;
        let value = r.nullable_string(true, "synonym value")?;
        let source = r.i8()?;
        r.tagged_fields(true)?;
        Ok(DescribeConfigsSynonym {
            name,
            value,
            source,
        })
    })?;
    let config_type = r.i8()?;
    let documentation = r.nullable_string(true, "documentation")?;
    r.tagged_fields(true)?;
    Ok(DescribeConfigsResourceResult {
        name,
        value,
        read_only,
        config_source,
        is_sensitive,
        synonyms,
        config_type,
        documentation,
    })
}
