//! `interrupts` (off by default): per-CPU interrupt counts from /proc/interrupts, as
//! node_exporter 1.5: `type` is the IRQ number or name, `info` the controller (numbered IRQs) or
//! description, `devices` the rest. Lines with fewer columns than CPUs (`ERR:`, `MIS:`) are
//! skipped like node_exporter; an unparsable count skips that one series.

use super::{read, Paths};
use crate::model::Family;

super::paths_collector!("interrupts", false);

#[derive(Debug, PartialEq)]
pub struct Irq {
    pub name: String,
    pub info: String,
    pub devices: String,
    pub values: Vec<String>,
}

pub fn parse(text: &str) -> Vec<Irq> {
    let mut lines = text.lines();
    let cpus = lines.next().map_or(0, |h| h.split_whitespace().count());
    let mut out = Vec::new();
    for line in lines {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.len() < cpus + 2 {
            continue;
        }
        let name = parts[0].strip_suffix(':').unwrap_or(parts[0]).to_string();
        let values = parts[1..=cpus].iter().map(|v| v.to_string()).collect();
        let (info, devices) = if name.parse::<i64>().is_ok() {
            (parts[cpus + 1].to_string(), parts[cpus + 2..].join(" "))
        } else {
            (parts[cpus + 1..].join(" "), String::new())
        };
        out.push(Irq {
            name,
            info,
            devices,
            values,
        });
    }
    out
}

pub fn family(irqs: &[Irq]) -> Family {
    let mut f = Family::counter("node_interrupts_total", "Interrupt details.");
    for irq in irqs {
        for (cpu, v) in irq.values.iter().enumerate() {
            let Ok(v) = v.parse::<f64>() else { continue };
            f.add(
                &[
                    ("cpu", &cpu.to_string()),
                    ("type", &irq.name),
                    ("info", &irq.info),
                    ("devices", &irq.devices),
                ],
                v,
            );
        }
    }
    f
}

fn update(paths: &Paths, out: &mut Vec<Family>) -> Result<(), String> {
    out.push(family(&parse(&read(&paths.proc("interrupts"))?)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_and_named_lines() {
        let t = "   CPU0 CPU1\n 16:  1 2 IO-APIC 16-fasteoi a, b\nNMI: 3 4 Non-maskable interrupts\nERR: 0\n";
        let irqs = parse(t);
        assert_eq!(irqs.len(), 2);
        assert_eq!(
            (irqs[0].info.as_str(), irqs[0].devices.as_str()),
            ("IO-APIC", "16-fasteoi a, b")
        );
        assert_eq!(irqs[1].info, "Non-maskable interrupts");
        assert_eq!(family(&irqs).samples.len(), 4);
    }
}
