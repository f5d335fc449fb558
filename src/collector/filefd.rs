//! `filefd`: allocated and maximum file handles from /proc/sys/fs/file-nr.

use super::{read, Paths};
use crate::model::Family;

super::paths_collector!("filefd", true);

fn update(paths: &Paths, out: &mut Vec<Family>) -> Result<(), String> {
    let (allocated, maximum) = parse_file_nr(&read(&paths.proc("sys/fs/file-nr"))?)?;
    for (name, v) in [("allocated", allocated), ("maximum", maximum)] {
        out.push(
            Family::gauge(
                format!("node_filefd_{name}"),
                format!("File descriptor statistics: {name}."),
            )
            .with(&[], v),
        );
    }
    Ok(())
}

/// `allocated<TAB>unused<TAB>maximum`; the middle value is always 0 since Linux 2.6 and skipped.
pub fn parse_file_nr(text: &str) -> Result<(f64, f64), String> {
    let parts: Vec<&str> = text.trim().split('\t').collect();
    if parts.len() < 3 {
        return Err(format!(
            "unexpected number of file stats in file-nr: {text:?}"
        ));
    }
    let num = |s: &str| {
        s.parse::<f64>()
            .map_err(|_| format!("invalid value {s:?} in file-nr"))
    };
    Ok((num(parts[0])?, num(parts[2])?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocated_and_maximum() {
        assert_eq!(
            parse_file_nr("2144\t0\t2466170\n").unwrap(),
            (2144.0, 2466170.0)
        );
        assert!(
            parse_file_nr("2144 0 2466170\n").is_err(),
            "fields are tab-separated"
        );
        assert!(parse_file_nr("x\t0\t1\n").is_err());
    }
}
