//! ApiVersions response (v3).

use crate::protocol::error::DecodeError;
use crate::protocol::reader::Reader;

/// ApiVersions response: what the broker serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVersionsResponse {
    /// Top-level error (UNSUPPORTED_VERSION when the broker cannot answer v3).
    pub error_code: i16,
    /// The APIs the broker serves.
    pub api_keys: Vec<ApiVersion>,
    /// Quota throttle in milliseconds.
    pub throttle_time_ms: i32,
    /// Features the broker supports (tag 0).
    pub supported_features: Vec<SupportedFeatureKey>,
    /// Epoch of the finalized features; -1 when unknown or absent (tag 1).
    pub finalized_features_epoch: i64,
    /// Cluster-wide finalized features (tag 2).
    pub finalized_features: Vec<FinalizedFeatureKey>,
    /// Set by a KRaft controller ready for ZK migration (tag 3).
    pub zk_migration_ready: bool,
}

/// One served API and its version range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVersion {
    /// API key.
    pub api_key: i16,
    /// Oldest version served.
    pub min_version: i16,
    /// Newest version served.
    pub max_version: i16,
}

/// A feature the broker supports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportedFeatureKey {
    /// Feature name.
    pub name: String,
    /// Oldest supported version.
    pub min_version: i16,
    /// Newest supported version.
    pub max_version: i16,
}

/// A cluster-wide finalized feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalizedFeatureKey {
    /// Feature name.
    pub name: String,
    /// Finalized max version level.
    pub max_version_level: i16,
    /// Finalized min version level.
    pub min_version_level: i16,
}

impl ApiVersionsResponse {
    /// Decodes a v3 body (which follows a v0 response header).
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let error_code = r.i16()?;
        let api_keys = r.array(true, 7, "api_keys", |r| {
            let api_key = r.i16()?;
            let min_version = r.i16()?;
            let max_version = r.i16()?;
            r.tagged_fields(true)?;
            Ok(ApiVersion {
                api_key,
                min_version,
                max_version,
            })
        })?;
        let throttle_time_ms = r.i32()?;
        let mut supported_features = Vec::new();
        let mut finalized_features_epoch = -1;
        let mut finalized_features = Vec::new();
        let mut zk_migration_ready = false;
        r.tagged_fields_with(true, |tag, r| {
            match tag {
                0 => {
                    supported_features = r.array(true, 6, "supported_features", |r| {
                        let name = r.string(true, "feature name")?;
                        let min_version = r.i16()?;
                        let max_version = r.i16()?;
                        r.tagged_fields(true)?;
                        Ok(SupportedFeatureKey {
                            name,
                            min_version,
                            max_version,
                        })
                    })?;
                }
                1 => finalized_features_epoch = r.i64()?,
                2 => {
                    finalized_features = r.array(true, 6, "finalized_features", |r| {
                        let name = r.string(true, "feature name")?;
                        let max_version_level = r.i16()?;
                        let min_version_level = r.i16()?;
                        r.tagged_fields(true)?;
                        Ok(FinalizedFeatureKey {
                            name,
                            max_version_level,
                            min_version_level,
                        })
                    })?;
                }
                3 => zk_migration_ready = r.bool()?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        r.finish()?;
        Ok(Self {
            error_code,
            api_keys,
            throttle_time_ms,
            supported_features,
            finalized_features_epoch,
            finalized_features,
            zk_migration_ready,
        })
    }
}
