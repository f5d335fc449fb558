//! State files (the alert state, pending notifications): read without blocking on whatever sits
//! at the path, written atomically (temporary file, fsync, rename), and a file that cannot be
//! used kept aside instead of being overwritten by the next save.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

fn what(t: std::fs::FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

fn not_regular(t: std::fs::FileType) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{} is there, not a regular file; refused", what(t)),
    )
}

/// The regular file at `path`, `None` when there is none. Anything else there (a FIFO, a
/// device, a directory) is an error: it is opened non-blocking and checked before a read, so a
/// FIFO without a writer cannot hold start-up.
pub fn read_regular(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let f = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(not_regular(meta.file_type()));
    }
    let mut buf = Vec::with_capacity(meta.len().min(1 << 30) as usize);
    (&f).read_to_end(&mut buf)?;
    Ok(Some(buf))
}

/// Replaces `path` with `data` atomically: a crash leaves the old file or the new one. Something
/// other than a regular file at `path` is left alone (an error).
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => return Err(not_regular(m.file_type())),
        _ => {}
    }
    let tmp = path.with_extension("tmp");
    // A stale temporary file (or a FIFO someone left there) is replaced, never opened.
    let _ = std::fs::remove_file(&tmp);
    {
        let mut f: File = OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Moves a state file that could not be used to `<path>.corrupt-<UTC time>` so the next save
/// does not destroy it; returns the new name.
pub fn set_aside(path: &Path, now_ms: i64) -> io::Result<PathBuf> {
    let stamp: String = super::time::format_millis(now_ms)
        .chars()
        .take(19)
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".corrupt-{stamp}Z"));
    let aside = PathBuf::from(name);
    std::fs::rename(path, &aside)?;
    Ok(aside)
}

/// For tests of state files.
#[cfg(test)]
pub mod testkit {
    use std::path::{Path, PathBuf};

    /// A fresh, empty directory for one test.
    pub fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("telltale-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A FIFO at `path` (a read from it blocks until someone writes).
    pub fn mkfifo(path: &Path) {
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::testkit::{dir, mkfifo};
    use super::*;

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let d = dir("file-fifo");
        let p = d.join("state.json");
        mkfifo(&p);
        // Run in a thread so a regression shows as a failed test, not a hung one.
        let (tx, rx) = std::sync::mpsc::channel();
        let q = p.clone();
        std::thread::spawn(move || tx.send(read_regular(&q).map_err(|e| e.to_string())));
        let got = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("reading a FIFO blocked");
        let e = got.unwrap_err();
        assert!(e.contains("a FIFO"), "{e}");
        // Nor is it replaced by a save.
        assert!(write_atomic(&p, b"{}").is_err());
        assert!(std::fs::symlink_metadata(&p).unwrap().file_type().is_fifo());
        assert!(read_regular(&d)
            .unwrap_err()
            .to_string()
            .contains("directory"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn files_are_written_read_and_set_aside() {
        let d = dir("file-aside");
        let p = d.join("state.json");
        assert_eq!(read_regular(&p).unwrap(), None);
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(read_regular(&p).unwrap().as_deref(), Some(&b"two"[..]));
        assert!(!d.join("state.tmp").exists());
        let aside = set_aside(&p, 1_796_000_000_123).unwrap();
        assert_eq!(
            aside.file_name().unwrap().to_str().unwrap(),
            "state.json.corrupt-20261130T005320Z"
        );
        assert!(!p.exists());
        assert_eq!(std::fs::read(&aside).unwrap(), b"two");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
