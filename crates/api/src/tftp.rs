//! The boot server's TFTP side (`[pxe] tftp_listen`), for machines whose PXE ROM is not iPXE:
//! DHCP gives them iPXE itself (`undionly.kpxe`, `snponly.efi`, from `[pxe] tftp_root`) and
//! iPXE then fetches `boot.ipxe`, which TFTP serves too (the same entry script as HTTP's
//! `/boot.ipxe`, generated) and which chains to the HTTP boot server for everything else.
//!
//! Read-only; `blksize`, `timeout` and `tsize` options; each transfer on its own socket (its
//! own transfer ID) with retransmission after the timeout, a bounded number of times; a
//! bounded number of transfers at once; names resolved inside `tftp_root` only (no `..`, no
//! symbolic link out of it). Packet format in `ferric_core::tftp`.

use ferric_core::tftp::{self as t, ErrorCode, Options, Reply, Request};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::UdpSocket;

#[derive(Debug, Clone)]
pub struct TftpConfig {
    /// The directory files are served from (`[pxe] tftp_root`); `None`: only `boot.ipxe`.
    pub root: Option<PathBuf>,
    /// What `boot.ipxe` is.
    pub entry_script: String,
    /// Transfers at once; more requests get an error.
    pub max_transfers: usize,
    /// Retransmission timeout when the client sets none.
    pub timeout: Duration,
    /// Retransmissions of a packet before the transfer is abandoned.
    pub retries: u32,
}

impl TftpConfig {
    pub fn new(root: Option<PathBuf>, entry_script: String) -> TftpConfig {
        TftpConfig { root, entry_script, max_transfers: 64, timeout: Duration::from_secs(2), retries: 5 }
    }
}

enum Source {
    Memory(Vec<u8>, usize),
    File(tokio::fs::File),
}

impl Source {
    /// Up to `n` bytes (fewer only at the end).
    async fn next(&mut self, n: usize) -> std::io::Result<Vec<u8>> {
        match self {
            Source::Memory(b, pos) => {
                let end = (*pos + n).min(b.len());
                let v = b[*pos..end].to_vec();
                *pos = end;
                Ok(v)
            }
            Source::File(f) => {
                let mut v = vec![0u8; n];
                let mut got = 0;
                while got < n {
                    let k = f.read(&mut v[got..]).await?;
                    if k == 0 {
                        break;
                    }
                    got += k;
                }
                v.truncate(got);
                Ok(v)
            }
        }
    }
}

/// Open what a request names: `boot.ipxe` is the entry script; anything else a regular file
/// inside the root (after resolving symbolic links).
async fn open(config: &TftpConfig, filename: &str) -> Result<(Source, u64), (ErrorCode, String)> {
    let not_found = || (ErrorCode::FileNotFound, format!("File not found: {filename}"));
    let rel = t::relative_path(filename).ok_or((ErrorCode::AccessViolation, format!("Access violation: {filename}")))?;
    if rel == "boot.ipxe" {
        let b = config.entry_script.clone().into_bytes();
        let n = b.len() as u64;
        return Ok((Source::Memory(b, 0), n));
    }
    let root = config.root.as_deref().ok_or_else(not_found)?;
    let resolved = resolve(root, &rel).await.ok_or_else(not_found)?;
    let f = tokio::fs::File::open(&resolved).await.map_err(|_| not_found())?;
    let m = f.metadata().await.map_err(|_| not_found())?;
    if !m.is_file() {
        return Err(not_found());
    }
    Ok((Source::File(f), m.len()))
}

async fn resolve(root: &Path, rel: &str) -> Option<PathBuf> {
    let root = tokio::fs::canonicalize(root).await.ok()?;
    let p = tokio::fs::canonicalize(root.join(rel)).await.ok()?;
    p.starts_with(&root).then_some(p)
}

/// Serve TFTP on `socket` until `shutdown` resolves (transfers in progress finish on their own).
pub async fn serve(socket: UdpSocket, config: TftpConfig, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    let local = socket.local_addr()?;
    let config = Arc::new(config);
    let slots = Arc::new(tokio::sync::Semaphore::new(config.max_transfers));
    let mut buf = vec![0u8; 1500];
    tokio::pin!(shutdown);
    loop {
        let (n, peer) = tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok(x) => x,
                // ICMP errors of earlier sends surface here on Linux: not the server's problem.
                Err(e) => { tracing::debug!(error = %e, "TFTP receive"); continue; }
            },
            _ = &mut shutdown => return Ok(()),
        };
        let req = match t::parse_request(&buf[..n]) {
            Request::Read(r) => r,
            Request::Refused(code, msg) => {
                let _ = socket.send_to(&t::error(code, &msg), peer).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            let _ = socket.send_to(&t::error(ErrorCode::NotDefined, "Too many transfers: try again"), peer).await;
            continue;
        };
        let config = config.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match transfer(&config, local, peer, &req.filename, &req.options).await {
                Ok(bytes) => tracing::info!(%peer, file = %req.filename, bytes, "TFTP transfer done"),
                Err(e) => tracing::info!(%peer, file = %req.filename, error = %e, "TFTP transfer failed"),
            }
        });
    }
}

/// One read transfer from its own socket; the bytes sent.
async fn transfer(config: &TftpConfig, local: SocketAddr, peer: SocketAddr, filename: &str, options: &Options) -> Result<u64, String> {
    let sock = UdpSocket::bind(SocketAddr::new(local.ip(), 0)).await.map_err(|e| e.to_string())?;
    sock.connect(peer).await.map_err(|e| e.to_string())?;
    let (mut src, size) = match open(config, filename).await {
        Ok(x) => x,
        Err((code, msg)) => {
            let _ = sock.send(&t::error(code, &msg)).await;
            return Err(msg);
        }
    };
    let wait = options.retransmit(config.timeout);
    let blksize = options.block_size();
    if options.any() {
        exchange(&sock, &t::oack(options, size), 0, wait, config.retries).await?;
    }
    let mut block: u16 = 1;
    let mut sent = 0u64;
    loop {
        let chunk = src.next(blksize).await.map_err(|e| {
            let msg = format!("read error: {e}");
            let s = t::error(ErrorCode::NotDefined, &msg);
            let _ = sock.try_send(&s);
            msg
        })?;
        let last = chunk.len() < blksize;
        sent += chunk.len() as u64;
        exchange(&sock, &t::data(block, &chunk), block, wait, config.retries).await?;
        if last {
            return Ok(sent);
        }
        // Block numbers roll over to 0 after 65535, as most clients expect.
        block = block.wrapping_add(1);
    }
}

/// Send `packet` until the client acknowledges `block` (a retransmission per timeout, at most
/// `retries`); earlier acknowledgements are ignored (no Sorcerer's Apprentice).
async fn exchange(sock: &UdpSocket, packet: &[u8], block: u16, wait: Duration, retries: u32) -> Result<(), String> {
    let mut buf = vec![0u8; 1500];
    for _ in 0..=retries {
        sock.send(packet).await.map_err(|e| e.to_string())?;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
                Err(_) => break,
                Ok(Err(e)) => return Err(format!("client unreachable: {e}")),
                Ok(Ok(n)) => match t::parse_reply(&buf[..n]) {
                    Reply::Ack(b) if b == block => return Ok(()),
                    Reply::Error(code, msg) => return Err(format!("the client stopped the transfer: error {code}: {msg}")),
                    _ => continue,
                },
            }
        }
    }
    Err(format!("no acknowledgement of block {block} after {} tries", retries + 1))
}
