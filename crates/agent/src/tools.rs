//! Running the machine's tools (hdparm, nvme, smartctl, lsblk, mount), behind a trait so that
//! tests feed recorded outputs and check the exact command lines.

use std::process::Command;

/// Why a tool run gave no output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolError {
    /// The program is not installed (IPA: `OSError`).
    NotFound(String),
    /// It ran and failed (IPA: `ProcessExecutionError`).
    Failed { code: Option<i32>, message: String },
}

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ToolError::NotFound(m) => write!(f, "{m}"),
            ToolError::Failed { code, message } => match code {
                Some(c) => write!(f, "exit code {c}: {message}"),
                None => write!(f, "{message}"),
            },
        }
    }
}

/// Runs a program (argv\[0\] and its arguments); its standard output on success.
pub trait Tools: Send + Sync {
    fn run(&self, argv: &[&str]) -> Result<String, ToolError>;
}

/// The machine's own tools, with `LC_ALL=C` (the outputs are parsed).
#[derive(Debug, Default, Clone)]
pub struct HostTools;

impl Tools for HostTools {
    fn run(&self, argv: &[&str]) -> Result<String, ToolError> {
        let out = Command::new(argv[0]).args(&argv[1..]).env("LC_ALL", "C").output().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ToolError::NotFound(format!("{}: {e}", argv[0]))
            } else {
                ToolError::Failed { code: None, message: format!("{}: {e}", argv[0]) }
            }
        })?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(ToolError::Failed {
                code: out.status.code(),
                message: format!("{}: {}", argv.join(" "), stderr.trim()),
            });
        }
        Ok(stdout)
    }
}

