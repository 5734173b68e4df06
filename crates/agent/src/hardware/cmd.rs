//! Running a tool (ipmitool, journalctl, dmesg, ...) with a time limit and bounded output.
//!
//! The child gets its own process group; when the time is up the whole group is killed, so a
//! tool that forked cannot keep the pipes (and the collector) waiting.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What a finished command gave.
#[derive(Debug, Clone)]
pub struct Output {
    /// The exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The output went over the cap and was cut.
    pub truncated: bool,
}

/// Find an executable in `$PATH` (plus the sbin directories a ramdisk's tools live in).
pub fn which(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    let extra = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];
    std::env::split_paths(&path)
        .chain(extra.iter().map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// Run `prog args...` with the C locale, no stdin, at most `timeout`, keeping at most `cap`
/// bytes of each output stream. An error when it cannot start or runs out of time.
pub fn run(prog: &Path, args: &[&str], timeout: Duration, cap: usize) -> Result<Output, String> {
    let shown = format!("{} {}", prog.display(), args.join(" "));
    let mut child = Command::new(prog)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("{shown}: {e}"))?;
    let pid = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    for (i, stream) in [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .enumerate()
    {
        let tx = tx.clone();
        let Some(mut stream) = stream else {
            let _ = tx.send((i, Vec::new(), false));
            continue;
        };
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let mut buf = [0u8; 8192];
            let mut truncated = false;
            // Keep reading past the cap (and drop it) so the child never blocks on a full pipe.
            loop {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let room = cap.saturating_sub(kept.len());
                        if n > room {
                            truncated = true;
                        }
                        kept.extend_from_slice(&buf[..n.min(room)]);
                    }
                }
            }
            let _ = tx.send((i, kept, truncated));
        });
    }
    drop(tx);

    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if Instant::now() >= deadline => break None,
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("{shown}: {e}")),
        }
    };
    let Some(status) = status else {
        // SAFETY: kill(2) on the process group this function created for the child.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        let _ = child.wait();
        return Err(format!("{shown}: timed out after {} s", timeout.as_secs_f32()));
    };
    // The streams end when every holder of the pipes is gone; do not wait for ever on a
    // grandchild that kept them.
    let mut out = [Vec::new(), Vec::new()];
    let mut truncated = false;
    let grace = Instant::now() + Duration::from_secs(2);
    for _ in 0..2 {
        let left = grace.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((i, data, t)) => {
                out[i] = data;
                truncated |= t;
            }
            Err(_) => {
                // SAFETY: as above, our own process group.
                unsafe { libc::kill(-pid, libc::SIGKILL) };
                break;
            }
        }
    }
    let [stdout, stderr] = out;
    Ok(Output {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_and_exit_code() {
        let sh = which("sh").expect("sh");
        let o = run(&sh, &["-c", "echo out; echo err >&2; exit 3"], Duration::from_secs(5), 1024).unwrap();
        assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str(), o.truncated), (Some(3), "out\n", "err\n", false));
    }

    #[test]
    fn timeout_kills_the_group() {
        let sh = which("sh").expect("sh");
        let t = Instant::now();
        let e = run(&sh, &["-c", "sleep 30 & sleep 30"], Duration::from_millis(300), 1024).unwrap_err();
        assert!(e.contains("timed out"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn output_is_capped() {
        let sh = which("sh").expect("sh");
        let o = run(&sh, &["-c", "head -c 100000 /dev/zero"], Duration::from_secs(5), 1000).unwrap();
        assert_eq!(o.stdout.len(), 1000);
        assert!(o.truncated);
    }

    #[test]
    fn missing_program() {
        assert!(run(Path::new("/nonexistent/prog"), &[], Duration::from_secs(1), 10).is_err());
        assert!(which("surely-no-such-tool-here").is_none());
    }
}
