//! `selinux`: whether SELinux is enabled and, when it is, the configured and current enforcement
//! modes, as node_exporter 1.5 (1 enforcing, 0 permissive, -1 disabled). SELinux counts as
//! enabled when selinuxfs is mounted at `<sysfs>/fs/selinux` (its `enforce` file is readable);
//! the configured mode is `SELINUX=` of `<rootfs>/etc/selinux/config`.

use super::{read, read_trim, Paths};
use crate::model::Family;

super::paths_collector!("selinux", true);

/// The `SELINUX=` mode of /etc/selinux/config as node_exporter's library maps it.
pub fn config_mode(text: &str) -> f64 {
    let mode = text
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("SELINUX="))
        .map(|v| v.trim().trim_matches('"'));
    match mode {
        Some("enforcing") => 1.0,
        Some("permissive") => 0.0,
        _ => -1.0,
    }
}

fn update(paths: &Paths, out: &mut Vec<Family>) -> Result<(), String> {
    let enabled = Family::gauge(
        "node_selinux_enabled",
        "SELinux is enabled, 1 is true, 0 is false",
    );
    let Ok(enforce) = read_trim(&paths.sys("fs/selinux/enforce")) else {
        out.push(enabled.with(&[], 0.0));
        return Ok(());
    };
    let current = if enforce == "1" { 1.0 } else { 0.0 };
    let config = read(&paths.root("/etc/selinux/config")).map_or(-1.0, |t| config_mode(&t));
    out.push(enabled.with(&[], 1.0));
    out.push(
        Family::gauge(
            "node_selinux_config_mode",
            "Configured SELinux enforcement mode",
        )
        .with(&[], config),
    );
    out.push(
        Family::gauge(
            "node_selinux_current_mode",
            "Current SELinux enforcement mode",
        )
        .with(&[], current),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_modes() {
        assert_eq!(
            config_mode("# x\nSELINUX=enforcing\nSELINUXTYPE=targeted\n"),
            1.0
        );
        assert_eq!(config_mode("SELINUX=permissive\n"), 0.0);
        assert_eq!(config_mode("SELINUX=disabled\n"), -1.0);
        assert_eq!(config_mode(""), -1.0);
    }
}
