//! `uname`: `node_uname_info` from the uname(2) system call (never re-rooted, as in 1.5).

use std::ffi::CStr;

use super::{Collector, Ctx, Spec};
use crate::model::Family;

pub const SPEC: Spec = Spec {
    name: "uname",
    default_enabled: true,
    options: &[],
    build,
};

fn build(_: &Ctx) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Uname))
}

struct Uname;

/// The six uname(2) strings, in `struct utsname` order.
#[derive(Debug, PartialEq)]
pub struct Utsname {
    pub sysname: String,
    pub nodename: String,
    pub release: String,
    pub version: String,
    pub machine: String,
    pub domainname: String,
}

impl Collector for Uname {
    fn update(&self, out: &mut Vec<Family>) -> Result<(), String> {
        out.push(uname_family(&uname()?));
        Ok(())
    }
}

fn uname() -> Result<Utsname, String> {
    // SAFETY: uname fills the zeroed struct; each field is a NUL-terminated array within it.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return Err(format!("uname: {}", std::io::Error::last_os_error()));
        }
        let s = |f: &[libc::c_char]| CStr::from_ptr(f.as_ptr()).to_string_lossy().into_owned();
        Ok(Utsname {
            sysname: s(&u.sysname),
            nodename: s(&u.nodename),
            release: s(&u.release),
            version: s(&u.version),
            machine: s(&u.machine),
            domainname: s(&u.domainname),
        })
    }
}

pub fn uname_family(u: &Utsname) -> Family {
    Family::gauge(
        "node_uname_info",
        "Labeled system information as provided by the uname system call.",
    )
    .with(
        &[
            ("sysname", &u.sysname),
            ("release", &u.release),
            ("version", &u.version),
            ("machine", &u.machine),
            ("nodename", &u.nodename),
            ("domainname", &u.domainname),
        ],
        1.0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_the_struct() {
        let u = Utsname {
            sysname: "Linux".into(),
            nodename: "vm".into(),
            release: "6.1.0".into(),
            version: "#1 SMP".into(),
            machine: "x86_64".into(),
            domainname: "(none)".into(),
        };
        let f = uname_family(&u);
        assert_eq!(f.samples[0].value, 1.0);
        assert!(f.samples[0]
            .labels
            .contains(&("version".into(), "#1 SMP".into())));
        assert!(f.samples[0]
            .labels
            .contains(&("domainname".into(), "(none)".into())));
        let real = uname().unwrap();
        assert_eq!(real.sysname, "Linux");
    }
}
