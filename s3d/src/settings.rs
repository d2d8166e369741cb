//! s3d's own settings (lifecycle day length, restore delays): flag or `STRATUS_*` variable first,
//! then the TOML file (`lifecycle.day_seconds` / `restore.standard_seconds`, at top level or under
//! `[s3d]`, dotted or as tables), then the defaults.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::engine::tier::TierSettings;

/// The value at `path` (e.g. `["lifecycle", "day_seconds"]`) in `table`, as seconds.
fn seconds_at(table: &toml::Table, path: &[&str]) -> anyhow::Result<Option<f64>> {
    let mut value = None;
    let mut scope = table;
    for (i, part) in path.iter().enumerate() {
        let Some(v) = scope.get(*part) else { return Ok(None) };
        if i + 1 == path.len() {
            value = Some(v);
        } else if let Some(t) = v.as_table() {
            scope = t;
        } else {
            return Ok(None);
        }
    }
    match value {
        None => Ok(None),
        Some(toml::Value::Integer(i)) => Ok(Some(*i as f64)),
        Some(toml::Value::Float(f)) => Ok(Some(*f)),
        Some(_) => bail!("config key {} must be a number of seconds", path.join(".")),
    }
}

/// Looks `section.key` up in the config file: the `[s3d]` table first, then the top level.
fn from_file(file: Option<&Path>, section: &str, key: &str) -> anyhow::Result<Option<f64>> {
    let Some(file) = file else { return Ok(None) };
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let table: toml::Table = toml::from_str(&text).with_context(|| format!("cannot parse {}", file.display()))?;
    if let Some(own) = table.get("s3d").and_then(|v| v.as_table())
        && let Some(v) = seconds_at(own, &[section, key])?
    {
        return Ok(Some(v));
    }
    seconds_at(&table, &[section, key])
}

fn duration(name: &str, secs: f64) -> anyhow::Result<Duration> {
    if !secs.is_finite() || secs < 0.0 {
        bail!("{name} must be a non-negative number of seconds");
    }
    Ok(Duration::from_secs_f64(secs))
}

pub struct TierFlags {
    pub day_seconds: Option<f64>,
    pub expedited_seconds: Option<f64>,
    pub standard_seconds: Option<f64>,
    pub bulk_seconds: Option<f64>,
}

pub fn tier_settings(flags: &TierFlags, config: Option<&Path>) -> anyhow::Result<TierSettings> {
    let mut s = TierSettings::default();
    let pick = |flag: Option<f64>, section: &str, key: &str| -> anyhow::Result<Option<f64>> {
        match flag {
            Some(v) => Ok(Some(v)),
            None => from_file(config, section, key),
        }
    };
    if let Some(v) = pick(flags.day_seconds, "lifecycle", "day_seconds")? {
        s.day = duration("lifecycle.day_seconds", v)?;
        if s.day.as_millis() < 1 {
            bail!("lifecycle.day_seconds must be at least 0.001");
        }
    }
    if let Some(v) = pick(flags.expedited_seconds, "restore", "expedited_seconds")? {
        s.expedited = duration("restore.expedited_seconds", v)?;
    }
    if let Some(v) = pick(flags.standard_seconds, "restore", "standard_seconds")? {
        s.standard = duration("restore.standard_seconds", v)?;
    }
    if let Some(v) = pick(flags.bulk_seconds, "restore", "bulk_seconds")? {
        s.bulk = duration("restore.bulk_seconds", v)?;
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_dotted_keys_work() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "lifecycle.day_seconds = 60\n[s3d.restore]\nbulk_seconds = 2.5\n").unwrap();
        let none = TierFlags { day_seconds: None, expedited_seconds: None, standard_seconds: None, bulk_seconds: None };
        let s = tier_settings(&none, Some(&path)).unwrap();
        assert_eq!(s.day, Duration::from_secs(60));
        assert_eq!(s.bulk, Duration::from_millis(2500));
        let flags = TierFlags { day_seconds: Some(0.5), ..none };
        assert_eq!(tier_settings(&flags, Some(&path)).unwrap().day, Duration::from_millis(500));
        assert_eq!(tier_settings(&flags, None).unwrap().standard, TierSettings::default().standard);
        std::fs::write(&path, "lifecycle.day_seconds = \"x\"\n").unwrap();
        let none = TierFlags { day_seconds: None, expedited_seconds: None, standard_seconds: None, bulk_seconds: None };
        assert!(tier_settings(&none, Some(&path)).is_err());
    }
}
