//! Settings files: defaults < profile file < `WEIR_*` environment < flags.
//!
//! The file (`--config-file`, `WEIR_CONFIG`, else `~/.config/weir/config.toml` when
//! it exists) holds named profiles; `--profile` (`WEIR_PROFILE`) picks one,
//! `default` otherwise:
//!
//! ```toml
//! [default]
//! bootstrap = "127.0.0.1:9092"
//!
//! [prod]
//! bootstrap = "kafka-1:9092,kafka-2:9092"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

/// The settings a profile may hold.
#[derive(Debug, Default, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Brokers to bootstrap from.
    pub bootstrap: Option<String>,
}

/// The profile named `name` in `path` (or the default file), if any.
pub fn load(path: Option<&Path>, name: Option<&str>) -> anyhow::Result<Profile> {
    let (path, explicit) = match path {
        Some(p) => (p.to_path_buf(), true),
        None => match default_path() {
            Some(p) if p.exists() => (p, false),
            _ => {
                if let Some(name) = name {
                    bail!("profile {name:?} asked for, but there is no config file");
                }
                return Ok(Profile::default());
            }
        },
    };
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    parse(&text, name).with_context(|| {
        format!(
            "in {}{}",
            path.display(),
            if explicit {
                ""
            } else {
                " (the default config file)"
            }
        )
    })
}

/// The profile `name` (or `default`) of a config file's text.
pub fn parse(text: &str, name: Option<&str>) -> anyhow::Result<Profile> {
    let profiles: BTreeMap<String, Profile> = toml::from_str(text)?;
    match (name, profiles.get(name.unwrap_or("default"))) {
        (_, Some(p)) => Ok(p.clone()),
        (None, None) => Ok(Profile::default()),
        (Some(name), None) => bail!(
            "no profile {name:?} (profiles: {})",
            profiles.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
    }
}

fn default_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/weir/config.toml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_picked_by_name_with_default_as_fallback() {
        let text = "[default]\nbootstrap = \"a:1\"\n\n[prod]\nbootstrap = \"b:1,c:1\"\n";
        assert_eq!(parse(text, None).unwrap().bootstrap.as_deref(), Some("a:1"));
        assert_eq!(
            parse(text, Some("prod")).unwrap().bootstrap.as_deref(),
            Some("b:1,c:1")
        );
        assert!(parse(text, Some("staging")).is_err());
        assert_eq!(parse("[prod]\n", None).unwrap(), Profile::default());
        assert!(
            parse("[default]\nbootstrapp = \"x\"\n", None).is_err(),
            "typos are errors"
        );
    }
}
