//! Per-topic configs: Kafka's names, validation, and resolution over broker defaults.

use std::collections::BTreeMap;

use crate::config::BrokerConfig;
use crate::limits::SEGMENT_BYTES_MIN;

/// Where a described config value comes from (Kafka's ConfigSource numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// Set on the topic (DYNAMIC_TOPIC_CONFIG = 1).
    TopicOverride = 1,
    /// The broker's static config (STATIC_BROKER_CONFIG = 4).
    StaticBroker = 4,
    /// Built in (DEFAULT_CONFIG = 5).
    Default = 5,
}

/// One described config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// Kafka property name.
    pub name: String,
    /// Current value.
    pub value: String,
    /// Where the value comes from.
    pub source: ConfigSource,
    /// Whether it can be changed at runtime.
    pub read_only: bool,
}

/// Timestamp semantics of a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    /// Producer's timestamps are kept.
    CreateTime,
    /// The broker stamps its append time.
    LogAppendTime,
}

/// A topic's effective configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
    /// `cleanup.policy` contains `delete`.
    pub cleanup_delete: bool,
    /// `cleanup.policy` contains `compact`.
    pub cleanup_compact: bool,
    /// `retention.ms` (-1: keep forever).
    pub retention_ms: i64,
    /// `retention.bytes` (-1: no limit).
    pub retention_bytes: i64,
    /// `segment.bytes`.
    pub segment_bytes: u64,
    /// `segment.ms`.
    pub segment_ms: u64,
    /// `delete.retention.ms`: how long compaction keeps tombstones.
    pub delete_retention_ms: i64,
    /// `max.message.bytes`.
    pub max_message_bytes: u32,
    /// `min.insync.replicas`.
    pub min_insync_replicas: i32,
    /// `message.timestamp.type`.
    pub timestamp_type: TimestampType,
}

/// Every topic config Weir knows, in the order DescribeConfigs lists them.
pub const TOPIC_CONFIG_NAMES: &[&str] = &[
    "cleanup.policy",
    "delete.retention.ms",
    "max.message.bytes",
    "message.timestamp.type",
    "min.insync.replicas",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.ms",
];

/// The configs whose values are comma-separated lists (Kafka's LIST type): only
/// these take IncrementalAlterConfigs' APPEND and SUBTRACT.
pub const LIST_CONFIG_NAMES: &[&str] = &["cleanup.policy"];

impl TopicConfig {
    /// Broker defaults with `overrides` applied; overrides were validated on write.
    pub fn resolve(broker: &BrokerConfig, overrides: &BTreeMap<String, String>) -> Self {
        let mut config = Self {
            cleanup_delete: true,
            cleanup_compact: false,
            retention_ms: broker.log_retention_ms,
            retention_bytes: broker.log_retention_bytes,
            segment_bytes: broker.log_segment_bytes,
            segment_ms: broker.log_roll_ms,
            delete_retention_ms: crate::log::DELETE_RETENTION_MS_DEFAULT,
            max_message_bytes: broker.message_max_bytes,
            min_insync_replicas: broker.cluster.min_insync_replicas,
            timestamp_type: TimestampType::CreateTime,
        };
        for (name, value) in overrides {
            // Stored overrides passed `validate`; a failure here means a newer
            // format we do not know, and the default is the safe reading.
            let _ = config.apply(name, value);
        }
        config
    }

    fn apply(&mut self, name: &str, value: &str) -> Result<(), String> {
        fn num<T: std::str::FromStr>(value: &str) -> Result<T, String> {
            value
                .trim()
                .parse()
                .map_err(|_| format!("`{value}` is not a valid number"))
        }
        match name {
            "cleanup.policy" => {
                let parts: Vec<&str> = value.split(',').map(str::trim).collect();
                if parts.is_empty() || parts.iter().any(|p| *p != "delete" && *p != "compact") {
                    return Err(format!("`{value}` is not delete, compact or both"));
                }
                self.cleanup_delete = parts.contains(&"delete");
                self.cleanup_compact = parts.contains(&"compact");
            }
            "retention.ms" => self.retention_ms = at_least(num(value)?, -1)?,
            "retention.bytes" => self.retention_bytes = at_least(num(value)?, -1)?,
            "segment.bytes" => self.segment_bytes = at_least(num(value)?, SEGMENT_BYTES_MIN)?,
            "segment.ms" => self.segment_ms = at_least(num(value)?, 1)?,
            "delete.retention.ms" => self.delete_retention_ms = at_least(num(value)?, 0)?,
            "max.message.bytes" => self.max_message_bytes = at_least(num(value)?, 0)?,
            "min.insync.replicas" => self.min_insync_replicas = at_least(num(value)?, 1)?,
            "message.timestamp.type" => {
                self.timestamp_type = match value {
                    "CreateTime" => TimestampType::CreateTime,
                    "LogAppendTime" => TimestampType::LogAppendTime,
                    _ => return Err(format!("`{value}` is not CreateTime or LogAppendTime")),
                }
            }
            _ => return Err(format!("unknown topic config `{name}`")),
        }
        Ok(())
    }

    /// Checks overrides before they are stored; the error names the bad one.
    pub fn validate(
        broker: &BrokerConfig,
        overrides: &[(String, Option<String>)],
    ) -> Result<(), String> {
        let mut probe = Self::resolve(broker, &BTreeMap::new());
        for (name, value) in overrides {
            match value {
                Some(value) => probe
                    .apply(name, value)
                    .map_err(|e| format!("{name}: {e}"))?,
                None if TOPIC_CONFIG_NAMES.contains(&name.as_str()) => {}
                None => return Err(format!("unknown topic config `{name}`")),
            }
        }
        Ok(())
    }

    /// The value of a known config as Kafka prints it.
    pub fn value_of(&self, name: &str) -> Option<String> {
        Some(match name {
            "cleanup.policy" => match (self.cleanup_compact, self.cleanup_delete) {
                (true, true) => "compact,delete".into(),
                (true, false) => "compact".into(),
                _ => "delete".into(),
            },
            "retention.ms" => self.retention_ms.to_string(),
            "retention.bytes" => self.retention_bytes.to_string(),
            "segment.bytes" => self.segment_bytes.to_string(),
            "segment.ms" => self.segment_ms.to_string(),
            "delete.retention.ms" => self.delete_retention_ms.to_string(),
            "max.message.bytes" => self.max_message_bytes.to_string(),
            "min.insync.replicas" => self.min_insync_replicas.to_string(),
            "message.timestamp.type" => match self.timestamp_type {
                TimestampType::CreateTime => "CreateTime".into(),
                TimestampType::LogAppendTime => "LogAppendTime".into(),
            },
            _ => return None,
        })
    }

    /// Every known config with its value and source, for DescribeConfigs.
    pub fn describe(
        broker: &BrokerConfig,
        overrides: &BTreeMap<String, String>,
    ) -> Vec<ConfigEntry> {
        let effective = Self::resolve(broker, overrides);
        TOPIC_CONFIG_NAMES
            .iter()
            .filter_map(|name| {
                let value = effective.value_of(name)?;
                let source = if overrides.contains_key(*name) {
                    ConfigSource::TopicOverride
                } else {
                    ConfigSource::Default
                };
                Some(ConfigEntry {
                    name: (*name).into(),
                    value,
                    source,
                    read_only: false,
                })
            })
            .collect()
    }
}

fn at_least<T: PartialOrd + std::fmt::Display + Copy>(value: T, min: T) -> Result<T, String> {
    if value < min {
        return Err(format!("{value} is below the minimum {min}"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_apply_and_bad_ones_are_named() {
        let broker = BrokerConfig::default();
        let mut o = BTreeMap::new();
        o.insert("cleanup.policy".to_string(), "compact".to_string());
        o.insert("retention.ms".to_string(), "1000".to_string());
        let c = TopicConfig::resolve(&broker, &o);
        assert!(c.cleanup_compact && !c.cleanup_delete);
        assert_eq!(c.retention_ms, 1000);
        let bad = [("segment.bytes".to_string(), Some("12".to_string()))];
        assert!(
            TopicConfig::validate(&broker, &bad)
                .unwrap_err()
                .contains("segment.bytes")
        );
        let unknown = [("nope".to_string(), Some("1".to_string()))];
        assert!(TopicConfig::validate(&broker, &unknown).is_err());
    }

    #[test]
    fn describe_marks_overrides() {
        let broker = BrokerConfig::default();
        let mut o = BTreeMap::new();
        o.insert("retention.ms".to_string(), "5".to_string());
        let entries = TopicConfig::describe(&broker, &o);
        let r = entries.iter().find(|e| e.name == "retention.ms").unwrap();
        assert_eq!(
            (r.value.as_str(), r.source),
            ("5", ConfigSource::TopicOverride)
        );
        assert_eq!(entries.len(), TOPIC_CONFIG_NAMES.len());
    }
}
