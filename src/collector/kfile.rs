//! Reads of kernel files (procfs, sysfs) through handles kept open between scrapes.
//!
//! The kernel regenerates a procfs or sysfs file on every read from offset 0, so re-reading an
//! open handle with `pread(…, 0)` returns fresh values and saves the path walk, open and close
//! that dominate a scrape's cost. Only files on procfs/sysfs are kept (checked with fstatfs), so
//! regular files — fixture trees, textfile directories — are always opened anew. A handle whose
//! object went away (an interface or disk removed) fails to read and is reopened once.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};

/// An upper bound on kept handles, well under the usual 1024 descriptors.
const MAX_OPEN: usize = 512;

const PROC_SUPER_MAGIC: i64 = 0x9fa0;
const SYSFS_MAGIC: i64 = 0x6265_6572;

static OPEN: LazyLock<Mutex<HashMap<PathBuf, File>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

fn on_kernel_fs(f: &File) -> bool {
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: fstatfs writes into `st`, a properly sized statfs struct, and the fd is open.
    if unsafe { libc::fstatfs(f.as_raw_fd(), &mut st) } != 0 {
        return false;
    }
    matches!(st.f_type as i64, PROC_SUPER_MAGIC | SYSFS_MAGIC)
}

/// Reads a whole file with positioned reads. A read that leaves more than a page of the buffer
/// unused is the end: the kernel only stops short of a full buffer when the next record (at most
/// a page) would not fit, so this saves the extra empty read per file.
fn read_from_start(f: &File) -> io::Result<String> {
    const PAGE: usize = 4096;
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = 4 * PAGE;
    loop {
        let start = buf.len();
        buf.resize(start + chunk, 0);
        let n = f.read_at(&mut buf[start..], start as u64)?;
        buf.truncate(start + n);
        if n == 0 || n + PAGE < chunk {
            break;
        }
        chunk *= 2;
    }
    String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// `std::fs::read_to_string` for kernel files, keeping procfs/sysfs handles open.
pub fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    let path = path.as_ref();
    let kept = OPEN.lock().unwrap_or_else(|e| e.into_inner()).remove(path);
    let (file, result, fresh) = match kept {
        // ENODEV: the object behind a kept handle is gone (an interface re-created); reopen.
        Some(f) => match read_from_start(&f) {
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => reopen(path)?,
            r => (f, r, false),
        },
        None => reopen(path)?,
    };
    // Attributes that refuse to be read (speed of a down link: EINVAL) stay open too, so a scrape
    // does not pay an open for an error it will get again.
    if !fresh || on_kernel_fs(&file) {
        let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
        if open.len() < MAX_OPEN {
            open.insert(path.to_path_buf(), file);
        }
    }
    result
}

fn reopen(path: &Path) -> io::Result<(File, io::Result<String>, bool)> {
    let f = File::open(path)?;
    let r = read_from_start(&f);
    Ok((f, r, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_proc_handles_return_fresh_values() {
        let p = Path::new("/proc/uptime");
        let a = read_to_string(p).unwrap();
        assert!(
            OPEN.lock().unwrap().contains_key(p),
            "procfs handle is kept"
        );
        std::thread::sleep(std::time::Duration::from_millis(60));
        let b = read_to_string(p).unwrap();
        assert_ne!(
            a, b,
            "a kept handle must re-read the kernel's current values"
        );
    }

    #[test]
    fn large_files_are_read_whole() {
        let dir = std::env::temp_dir().join(format!("telltale-kfile-big-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("big");
        let text: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&f, &text).unwrap();
        assert_eq!(read_to_string(&f).unwrap(), text);
    }

    #[test]
    fn regular_files_are_never_kept() {
        let dir = std::env::temp_dir().join(format!("telltale-kfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("x");
        std::fs::write(&f, "one").unwrap();
        assert_eq!(read_to_string(&f).unwrap(), "one");
        let tmp = dir.join("x.new");
        std::fs::write(&tmp, "two").unwrap();
        std::fs::rename(&tmp, &f).unwrap();
        assert_eq!(read_to_string(&f).unwrap(), "two");
        assert!(!OPEN.lock().unwrap().contains_key(&f));
    }

    #[test]
    fn missing_files_are_errors_of_their_kind() {
        let e = read_to_string(Path::new("/proc/does-not-exist")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
