//! Topic config changes, planned against a topic's current overrides: the
//! resulting override set is checked with the same code that checks CreateTopics
//! configs ([`TopicConfig::validate`]), and what differs becomes the changes of
//! one `TopicConfigsAltered` record.

use std::collections::{BTreeMap, HashSet};

use super::actor::TopicError;
use super::topic_config::{LIST_CONFIG_NAMES, TOPIC_CONFIG_NAMES, TopicConfig};
use crate::config::BrokerConfig;

/// IncrementalAlterConfigs' operation codes (Kafka's `AlterConfigOp.OpType`).
pub const OP_SET: i8 = 0;
/// Remove the override.
pub const OP_DELETE: i8 = 1;
/// Add values to a list config.
pub const OP_APPEND: i8 = 2;
/// Remove values from a list config.
pub const OP_SUBTRACT: i8 = 3;

/// A change to one topic's config overrides.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ConfigAlteration {
    /// Legacy AlterConfigs: these become the topic's whole override set; every
    /// override not named is removed, and a null value leaves its config at the
    /// default.
    Replace(Vec<(String, Option<String>)>),
    /// IncrementalAlterConfigs: (name, operation code, value), applied in order.
    Incremental(Vec<(String, i8, Option<String>)>),
}

/// The override changes (`None` removes one) that turn `current` into what
/// `alteration` asks for, or why it is refused: INVALID_CONFIG for unknown
/// names, bad values and list operations on non-list configs, INVALID_REQUEST
/// for malformed requests (duplicate names, null values, unknown operations).
pub fn plan(
    broker: &BrokerConfig,
    current: &BTreeMap<String, String>,
    alteration: &ConfigAlteration,
) -> Result<Vec<(String, Option<String>)>, TopicError> {
    let wanted = match alteration {
        ConfigAlteration::Replace(entries) => replace(entries)?,
        ConfigAlteration::Incremental(ops) => incremental(broker, current, ops)?,
    };
    let as_overrides: Vec<(String, Option<String>)> = wanted
        .iter()
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .collect();
    TopicConfig::validate(broker, &as_overrides).map_err(TopicError::InvalidConfig)?;
    let removed = current
        .keys()
        .filter(|k| !wanted.contains_key(*k))
        .map(|k| (k.clone(), None));
    let set = wanted
        .iter()
        .filter(|(k, v)| current.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), Some(v.clone())));
    Ok(removed.chain(set).collect())
}

fn known(name: &str) -> Result<(), TopicError> {
    if TOPIC_CONFIG_NAMES.contains(&name) {
        Ok(())
    } else {
        Err(TopicError::InvalidConfig(format!(
            "unknown topic config `{name}`"
        )))
    }
}

fn replace(entries: &[(String, Option<String>)]) -> Result<BTreeMap<String, String>, TopicError> {
    let mut wanted = BTreeMap::new();
    for (name, value) in entries {
        known(name)?;
        match value {
            Some(value) => wanted.insert(name.clone(), value.clone()),
            None => wanted.remove(name),
        };
    }
    Ok(wanted)
}

fn incremental(
    broker: &BrokerConfig,
    current: &BTreeMap<String, String>,
    ops: &[(String, i8, Option<String>)],
) -> Result<BTreeMap<String, String>, TopicError> {
    let mut seen = HashSet::new();
    if let Some((name, _, _)) = ops.iter().find(|(name, _, _)| !seen.insert(name)) {
        return Err(TopicError::InvalidRequest(format!(
            "duplicate config key `{name}`"
        )));
    }
    let defaults = TopicConfig::resolve(broker, &BTreeMap::new());
    let mut wanted = current.clone();
    for (name, op, value) in ops {
        if !(OP_SET..=OP_SUBTRACT).contains(op) {
            return Err(TopicError::InvalidRequest(format!(
                "unknown config operation {op} for `{name}`"
            )));
        }
        known(name)?;
        if *op == OP_DELETE {
            wanted.remove(name);
            continue;
        }
        let Some(value) = value else {
            return Err(TopicError::InvalidRequest(format!(
                "null value not supported for `{name}`"
            )));
        };
        if *op == OP_SET {
            wanted.insert(name.clone(), value.clone());
            continue;
        }
        if !LIST_CONFIG_NAMES.contains(&name.as_str()) {
            let verb = if *op == OP_APPEND {
                "append"
            } else {
                "subtract"
            };
            return Err(TopicError::InvalidConfig(format!(
                "`{name}` is not a list config: {verb} is not allowed"
            )));
        }
        let old = wanted
            .get(name)
            .cloned()
            .or_else(|| defaults.value_of(name))
            .unwrap_or_default();
        let mut items = list_items(&old);
        let given = list_items(value);
        if *op == OP_APPEND {
            for item in given {
                if !items.contains(&item) {
                    items.push(item);
                }
            }
        } else {
            items.retain(|item| !given.contains(item));
        }
        wanted.insert(name.clone(), items.join(","));
    }
    Ok(wanted)
}

/// The items of a comma-separated list value.
fn list_items(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overrides(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn set(name: &str, op: i8, value: Option<&str>) -> (String, i8, Option<String>) {
        (name.into(), op, value.map(Into::into))
    }

    #[test]
    fn replace_removes_what_it_does_not_name() {
        let broker = BrokerConfig::default();
        let current = overrides(&[("retention.ms", "1000"), ("segment.bytes", "4096")]);
        let alteration = ConfigAlteration::Replace(vec![
            ("retention.ms".into(), Some("2000".into())),
            ("max.message.bytes".into(), None),
        ]);
        let changes = plan(&broker, &current, &alteration).unwrap();
        assert_eq!(
            changes,
            vec![
                ("segment.bytes".into(), None),
                ("retention.ms".into(), Some("2000".into())),
            ]
        );
        // The same set again changes nothing.
        let same = ConfigAlteration::Replace(vec![
            ("retention.ms".into(), Some("1000".into())),
            ("segment.bytes".into(), Some("4096".into())),
        ]);
        assert!(plan(&broker, &current, &same).unwrap().is_empty());
    }

    #[test]
    fn bad_names_and_values_are_invalid_config() {
        let broker = BrokerConfig::default();
        let none = BTreeMap::new();
        for alteration in [
            ConfigAlteration::Replace(vec![("nope".into(), Some("1".into()))]),
            ConfigAlteration::Replace(vec![("nope".into(), None)]),
            ConfigAlteration::Replace(vec![("segment.bytes".into(), Some("12".into()))]),
            ConfigAlteration::Incremental(vec![set("nope", OP_DELETE, None)]),
            ConfigAlteration::Incremental(vec![set("retention.ms", OP_SET, Some("x"))]),
            ConfigAlteration::Incremental(vec![set("retention.ms", OP_APPEND, Some("5"))]),
            ConfigAlteration::Incremental(vec![set("segment.bytes", OP_SUBTRACT, Some("5"))]),
            // Subtracting the only policy leaves an empty, invalid list.
            ConfigAlteration::Incremental(vec![set("cleanup.policy", OP_SUBTRACT, Some("delete"))]),
        ] {
            let got = plan(&broker, &none, &alteration);
            assert!(
                matches!(got, Err(TopicError::InvalidConfig(_))),
                "{alteration:?}: {got:?}"
            );
        }
    }

    #[test]
    fn malformed_incremental_requests_are_invalid_request() {
        let broker = BrokerConfig::default();
        let none = BTreeMap::new();
        for ops in [
            vec![
                set("retention.ms", OP_SET, Some("1")),
                set("retention.ms", OP_DELETE, None),
            ],
            vec![set("retention.ms", OP_SET, None)],
            vec![set("retention.ms", 9, Some("1"))],
        ] {
            let got = plan(&broker, &none, &ConfigAlteration::Incremental(ops.clone()));
            assert!(
                matches!(got, Err(TopicError::InvalidRequest(_))),
                "{ops:?}: {got:?}"
            );
        }
    }

    #[test]
    fn incremental_set_delete_append_subtract() {
        let broker = BrokerConfig::default();
        let current = overrides(&[("retention.ms", "1000"), ("segment.bytes", "4096")]);
        let ops = vec![
            set("retention.ms", OP_DELETE, None),
            set("max.message.bytes", OP_SET, Some("2048")),
            // From the default `delete`.
            set("cleanup.policy", OP_APPEND, Some("compact,delete")),
        ];
        let changes = plan(&broker, &current, &ConfigAlteration::Incremental(ops)).unwrap();
        assert_eq!(
            changes,
            vec![
                ("retention.ms".into(), None),
                ("cleanup.policy".into(), Some("delete,compact".into())),
                ("max.message.bytes".into(), Some("2048".into())),
            ]
        );
        let current = overrides(&[("cleanup.policy", "delete,compact")]);
        let ops = vec![set("cleanup.policy", OP_SUBTRACT, Some("delete"))];
        let changes = plan(&broker, &current, &ConfigAlteration::Incremental(ops)).unwrap();
        assert_eq!(
            changes,
            vec![("cleanup.policy".into(), Some("compact".into()))]
        );
        // Deleting an override that is not there changes nothing.
        let ops = vec![set("segment.ms", OP_DELETE, None)];
        assert!(
            plan(&broker, &current, &ConfigAlteration::Incremental(ops))
                .unwrap()
                .is_empty()
        );
    }
}
