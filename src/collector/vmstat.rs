//! `vmstat`: the /proc/vmstat fields matching the `fields` regex, untyped, as node_exporter 1.5.

use regex::Regex;

use super::{read, Collector, Ctx, Opt, Paths, Spec};
use crate::model::Family;

pub const SPEC: Spec = Spec {
    name: "vmstat",
    default_enabled: true,
    options: &[Opt {
        key: "fields",
        default: "^(oom_kill|pgpg|pswp|pg.*fault).*",
        help: "Regexp of fields to return for vmstat collector.",
    }],
    build,
};

fn build(ctx: &Ctx) -> Result<Box<dyn Collector>, String> {
    let pattern = ctx.opt(&SPEC, "fields");
    let fields = Regex::new(&pattern).map_err(|e| format!("invalid fields regex: {e}"))?;
    Ok(Box::new(Vmstat {
        paths: ctx.paths.clone(),
        fields,
    }))
}

struct Vmstat {
    paths: Paths,
    fields: Regex,
}

impl Collector for Vmstat {
    fn update(&self, out: &mut Vec<Family>) -> Result<(), String> {
        out.extend(parse_vmstat(
            &read(&self.paths.proc("vmstat"))?,
            &self.fields,
        )?);
        Ok(())
    }
}

/// One untyped family per matching field. Like node_exporter, every value must parse, even
/// those of fields that are not kept; the regex is matched unanchored (Go's MatchString).
pub fn parse_vmstat(text: &str, fields: &Regex) -> Result<Vec<Family>, String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(name), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        let v: f64 = value
            .parse()
            .map_err(|_| format!("invalid value in vmstat: {line:?}"))?;
        if !fields.is_match(name) {
            continue;
        }
        out.push(
            Family::untyped(
                format!("node_vmstat_{name}"),
                format!("/proc/vmstat information field {name}."),
            )
            .with(&[], v),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VMSTAT: &str = "nr_free_pages 1210323\npgpgin 2452049\npswpout 4521\n\
pgfault 6836689\npgmajfault 2557\npgfree 8979301\nthp_fault_alloc 3\noom_kill 2\n";

    #[test]
    fn default_fields_are_kept() {
        let re = Regex::new(SPEC.options[0].default).unwrap();
        let fams = parse_vmstat(VMSTAT, &re).unwrap();
        let names: Vec<&str> = fams.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "node_vmstat_pgpgin",
                "node_vmstat_pswpout",
                "node_vmstat_pgfault",
                "node_vmstat_pgmajfault",
                "node_vmstat_oom_kill"
            ]
        );
        assert_eq!(fams[2].samples[0].value, 6836689.0);
        assert_eq!(fams[2].kind, crate::model::MetricType::Untyped);
        assert_eq!(fams[2].help, "/proc/vmstat information field pgfault.");
    }

    #[test]
    fn bad_values_fail_even_when_filtered_out() {
        let re = Regex::new("^pgfault$").unwrap();
        assert!(parse_vmstat("nr_x abc\npgfault 1\n", &re).is_err());
        assert_eq!(
            parse_vmstat("pgfault 1\npgfaults 2\n", &re).unwrap().len(),
            1
        );
    }
}
