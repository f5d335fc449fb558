//! `dmi`: `node_dmi_info` from /sys/class/dmi/id, as node_exporter 1.5: one label per readable
//! file (trimmed), absent when the file is missing or unreadable (serials are root-only).

use super::{read_trim, Paths};
use crate::model::Family;

super::paths_collector!("dmi", true);

/// (label, file), sorted by label.
pub const FIELDS: [(&str, &str); 20] = [
    ("bios_date", "bios_date"),
    ("bios_release", "bios_release"),
    ("bios_vendor", "bios_vendor"),
    ("bios_version", "bios_version"),
    ("board_asset_tag", "board_asset_tag"),
    ("board_name", "board_name"),
    ("board_serial", "board_serial"),
    ("board_vendor", "board_vendor"),
    ("board_version", "board_version"),
    ("chassis_asset_tag", "chassis_asset_tag"),
    ("chassis_serial", "chassis_serial"),
    ("chassis_vendor", "chassis_vendor"),
    ("chassis_version", "chassis_version"),
    ("product_family", "product_family"),
    ("product_name", "product_name"),
    ("product_serial", "product_serial"),
    ("product_sku", "product_sku"),
    ("product_uuid", "product_uuid"),
    ("product_version", "product_version"),
    ("system_vendor", "sys_vendor"),
];

pub fn family(values: &[(&str, String)]) -> Family {
    let help = format!(
        "A metric with a constant '1' value labeled by {} if provided by DMI.",
        FIELDS.map(|(l, _)| l).join(", ")
    );
    let labels: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Family::gauge("node_dmi_info", help).with(&labels, 1.0)
}

fn update(paths: &Paths, out: &mut Vec<Family>) -> Result<(), String> {
    let dir = paths.sys("class/dmi/id");
    if !dir.is_dir() {
        return Err(format!("{}: No such file or directory", dir.display()));
    }
    let values: Vec<(&str, String)> = FIELDS
        .iter()
        .filter_map(|(label, file)| Some((*label, read_trim(&dir.join(file)).ok()?)))
        .collect();
    out.push(family(&values));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_present_fields_are_labels() {
        let f = family(&[("bios_date", "x".into()), ("system_vendor", "".into())]);
        assert_eq!(f.samples[0].labels.len(), 2);
        assert!(f.help.ends_with("system_vendor if provided by DMI."));
    }
}
