//! `nvme`: `node_nvme_info` per controller in /sys/class/nvme, as node_exporter 1.5 (serial,
//! model, firmware revision and state, trimmed). A controller with an unreadable file is skipped.

use super::{dir_names, read_trim, Paths};
use crate::model::Family;

super::paths_collector!("nvme", true);

fn update(paths: &Paths, out: &mut Vec<Family>) -> Result<(), String> {
    let base = paths.sys("class/nvme");
    let mut f = Family::gauge(
        "node_nvme_info",
        "Non-numeric data from /sys/class/nvme/<device>, value is always 1.",
    );
    for dev in dir_names(&base)? {
        let get = |file: &str| read_trim(&base.join(&dev).join(file));
        let (Ok(serial), Ok(model), Ok(state), Ok(fw)) = (
            get("serial"),
            get("model"),
            get("state"),
            get("firmware_rev"),
        ) else {
            tracing::debug!(device = %dev, "nvme controller skipped: unreadable files");
            continue;
        };
        f.add(
            &[
                ("device", &dev),
                ("firmware_revision", &fw),
                ("model", &model),
                ("serial", &serial),
                ("state", &state),
            ],
            1.0,
        );
    }
    out.push(f);
    Ok(())
}
