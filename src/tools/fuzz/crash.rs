//! What a crash leaves behind. A panic is caught and reported by the driver, but a stack
//! overflow or a failed allocation aborts the process: a SIGABRT handler then writes the input
//! that was running (kept in two atomics) to a file, with only async-signal-safe calls. A
//! watchdog saves and stops an input that runs far past the time limit.

use std::ffi::CString;
use std::path::Path;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static PTR: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static LEN: AtomicUsize = AtomicUsize::new(0);
/// Milliseconds since `EPOCH` when the running input started; 0 when idle.
static STARTED: AtomicU64 = AtomicU64::new(0);
static EPOCH: OnceLock<Instant> = OnceLock::new();
static ABORT_FILE: OnceLock<CString> = OnceLock::new();

/// Records the input about to run (empty: none). The slice outlives the run it is set for.
pub fn set_current(input: &[u8]) {
    LEN.store(0, Ordering::SeqCst);
    PTR.store(input.as_ptr() as *mut u8, Ordering::SeqCst);
    LEN.store(input.len(), Ordering::SeqCst);
    let now = EPOCH
        .get()
        .map_or(0, |e| e.elapsed().as_millis() as u64 + 1);
    STARTED.store(if input.is_empty() { 0 } else { now }, Ordering::SeqCst);
}

fn save_current(fd: libc::c_int) {
    let (p, n) = (PTR.load(Ordering::SeqCst), LEN.load(Ordering::SeqCst));
    if !p.is_null() && n > 0 {
        // SAFETY: `p`/`n` describe the input the fuzz thread is running, alive until it returns.
        unsafe {
            libc::write(fd, p as *const libc::c_void, n);
        }
    }
}

extern "C" fn on_abort(_: libc::c_int) {
    if let Some(path) = ABORT_FILE.get() {
        // SAFETY: open/write/close/signal/raise are async-signal-safe.
        unsafe {
            let fd = libc::open(
                path.as_ptr(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
                0o644,
            );
            if fd >= 0 {
                save_current(fd);
                libc::close(fd);
            }
            let msg = b"fuzz: aborted; the input is saved as the target's -abort file\n";
            libc::write(2, msg.as_ptr() as *const libc::c_void, msg.len());
        }
    }
    // SAFETY: restores the default action and re-raises, ending the process as abort would.
    unsafe {
        libc::signal(libc::SIGABRT, libc::SIG_DFL);
        libc::raise(libc::SIGABRT);
    }
}

/// Installs the abort handler and caps the address space (so a runaway allocation fails in
/// this process instead of pressing the machine).
pub fn install(abort_file: &Path) {
    EPOCH.get_or_init(Instant::now);
    if let Ok(c) = CString::new(abort_file.display().to_string()) {
        let _ = ABORT_FILE.set(c);
    }
    // SAFETY: plain libc calls with valid arguments; the handler only uses signal-safe calls.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_abort as extern "C" fn(libc::c_int) as usize;
        sa.sa_flags = libc::SA_ONSTACK;
        libc::sigaction(libc::SIGABRT, &sa, std::ptr::null_mut());
        let cap = libc::rlimit {
            rlim_cur: 4 << 30,
            rlim_max: 4 << 30,
        };
        libc::setrlimit(libc::RLIMIT_AS, &cap);
    }
}

/// Waits for `worker`; an input running ten times past the limit is saved and the process ends.
pub fn watch<T>(worker: &std::thread::JoinHandle<T>, hang_file: &Path) {
    let limit = super::SLOW.as_millis() as u64 * 10;
    while !worker.is_finished() {
        std::thread::sleep(Duration::from_millis(200));
        let started = STARTED.load(Ordering::SeqCst);
        let now = EPOCH
            .get()
            .map_or(0, |e| e.elapsed().as_millis() as u64 + 1);
        if started > 0 && now.saturating_sub(started) > limit {
            if let Ok(mut f) = std::fs::File::create(hang_file) {
                use std::io::Write;
                let (p, n) = (PTR.load(Ordering::SeqCst), LEN.load(Ordering::SeqCst));
                if !p.is_null() {
                    // SAFETY: the fuzz thread is stuck inside the run this input belongs to.
                    let _ = f.write_all(unsafe { std::slice::from_raw_parts(p, n) });
                }
            }
            eprintln!(
                "fuzz: an input ran over {}s; saved to {}",
                limit / 1000,
                hang_file.display()
            );
            std::process::exit(1);
        }
    }
}
