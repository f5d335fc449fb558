//! `bonding`: configured and active (MII "up") slaves per bonding master, from
//! /sys/class/net/bonding_masters and each master's `lower_<slave>` (or `slave_<slave>`) links,
//! as node_exporter 1.5. A master whose files cannot be read is skipped.

use super::{read, Collector, Ctx, Paths, Spec};
use crate::model::Family;

pub const SPEC: Spec = Spec {
    name: "bonding",
    default_enabled: true,
    options: &[],
    build,
};

fn build(ctx: &Ctx) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Bonding {
        paths: ctx.paths.clone(),
    }))
}

struct Bonding {
    paths: Paths,
}

impl Bonding {
    /// (slaves, active) of one master.
    fn master(&self, master: &str) -> Result<(u32, u32), String> {
        let dir = self.paths.sys("class/net").join(master);
        let slaves = read(&dir.join("bonding/slaves"))?;
        let (mut total, mut up) = (0, 0);
        for slave in slaves.split_whitespace() {
            let status = read(&dir.join(format!("lower_{slave}/bonding_slave/mii_status")))
                .or_else(|_| read(&dir.join(format!("slave_{slave}/bonding_slave/mii_status"))))?;
            total += 1;
            if status.trim() == "up" {
                up += 1;
            }
        }
        Ok((total, up))
    }
}

impl Collector for Bonding {
    fn update(&self, out: &mut Vec<Family>) -> Result<(), String> {
        let masters = read(&self.paths.sys("class/net/bonding_masters"))?;
        let mut slaves = Family::gauge(
            "node_bonding_slaves",
            "Number of configured slaves per bonding interface.",
        );
        let mut active = Family::gauge(
            "node_bonding_active",
            "Number of active slaves per bonding interface.",
        );
        for m in masters.split_whitespace() {
            match self.master(m) {
                Ok((total, up)) => {
                    slaves.add(&[("master", m)], total as f64);
                    active.add(&[("master", m)], up as f64);
                }
                Err(e) => tracing::debug!(master = m, err = %e, "bonding master skipped"),
            }
        }
        out.extend([slaves, active]);
        Ok(())
    }
}
