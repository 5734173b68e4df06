//! The boot server's TFTP: a real client (curl's TFTP) fetches files, and a raw UDP client
//! checks what curl does not exercise: options, refusals, retransmission, block roll-over.

use ferric_api::tftp::{serve, TftpConfig};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;

async fn start(config: TftpConfig) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(sock, config, async {
        let _ = rx.await;
    }));
    (addr, tx)
}

fn root_with_files() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("undionly.kpxe"), (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect::<Vec<_>>()).unwrap();
    std::fs::create_dir(d.path().join("efi")).unwrap();
    std::fs::write(d.path().join("efi/snponly.efi"), vec![0xabu8; 1024]).unwrap();
    d
}

fn curl(url: &str, extra: &[&str]) -> (bool, Vec<u8>) {
    let out = std::process::Command::new("curl").args(["-sS", "--max-time", "20"]).args(extra).arg(url).output().expect("curl (with TFTP) must be installed");
    (out.status.success(), out.stdout)
}

#[tokio::test]
async fn curl_fetches_files_and_the_entry_script() {
    let root = root_with_files();
    let (addr, _stop) = start(TftpConfig::new(Some(root.path().to_path_buf()), "#!ipxe\nchain http://10.0.2.2:8088/ipxe/x\n".into())).await;
    let want = std::fs::read(root.path().join("undionly.kpxe")).unwrap();
    let a = addr.to_string();
    let (ok, got) = tokio::task::spawn_blocking(move || curl(&format!("tftp://{a}/undionly.kpxe"), &[])).await.unwrap();
    assert!(ok && got == want, "default block size: {} bytes", got.len());
    let a = addr.to_string();
    let (ok, got) = tokio::task::spawn_blocking(move || curl(&format!("tftp://{a}/undionly.kpxe"), &["--tftp-blksize", "1432"])).await.unwrap();
    assert!(ok && got == want, "blksize 1432");
    let a = addr.to_string();
    let (ok, got) = tokio::task::spawn_blocking(move || curl(&format!("tftp://{a}/efi/snponly.efi"), &[])).await.unwrap();
    assert!(ok && got == vec![0xab; 1024], "a file of exactly two blocks ends with an empty one");
    let a = addr.to_string();
    let (ok, got) = tokio::task::spawn_blocking(move || curl(&format!("tftp://{a}/boot.ipxe"), &[])).await.unwrap();
    assert!(ok && got.starts_with(b"#!ipxe\nchain http://10.0.2.2:8088/"), "{}", String::from_utf8_lossy(&got));
    let a = addr.to_string();
    let (ok, _) = tokio::task::spawn_blocking(move || curl(&format!("tftp://{a}/missing"), &[])).await.unwrap();
    assert!(!ok, "a missing file is an error");
}

async fn recv(s: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut b = vec![0u8; 70_000];
    let (n, from) = tokio::time::timeout(Duration::from_secs(10), s.recv_from(&mut b)).await.expect("an answer in 10 s").unwrap();
    b.truncate(n);
    (b, from)
}

fn rrq(name: &str, opts: &[(&str, &str)]) -> Vec<u8> {
    let mut v = vec![0, 1];
    for f in [name, "octet"].into_iter().chain(opts.iter().flat_map(|(k, v)| [*k, *v])) {
        v.extend_from_slice(f.as_bytes());
        v.push(0);
    }
    v
}

fn ack(n: u16) -> Vec<u8> {
    let mut v = vec![0, 4];
    v.extend_from_slice(&n.to_be_bytes());
    v
}

#[tokio::test]
async fn refusals_options_retransmission_and_roll_over() {
    let root = root_with_files();
    // A file outside the root, reachable only by `..` or a symbolic link.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), b"no").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), root.path().join("link")).unwrap();
    // 600,000 bytes in blocks of 8: 75,001 blocks, past block 65535.
    std::fs::write(root.path().join("big"), (0..600_000u32).map(|i| (i % 253) as u8).collect::<Vec<_>>()).unwrap();
    let mut cfg = TftpConfig::new(Some(root.path().to_path_buf()), "#!ipxe\n".into());
    cfg.timeout = Duration::from_millis(200);
    let (server, _stop) = start(cfg).await;
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();

    // Writes, traversal, links out of the root, unknown files: errors with their codes.
    let mut wrq = rrq("x", &[]);
    wrq[1] = 2;
    for (pkt, code) in [(wrq, 2u8), (rrq("../secret", &[]), 2), (rrq("link", &[]), 1), (rrq("nope", &[]), 1), (vec![0, 9, 0, 0], 4)] {
        c.send_to(&pkt, server).await.unwrap();
        let (p, _) = recv(&c).await;
        assert_eq!((p[1], p[3]), (5, code), "{:?}", String::from_utf8_lossy(&p));
    }

    // Options: OACK with the file's size, then blocks of the asked size from a new port.
    c.send_to(&rrq("efi/snponly.efi", &[("blksize", "512"), ("tsize", "0"), ("windowsize", "4")]), server).await.unwrap();
    let (p, tid) = recv(&c).await;
    assert_ne!(tid, server, "a transfer has its own port");
    assert_eq!(p, b"\x00\x06blksize\x00512\x00tsize\x001024\x00");
    c.send_to(&ack(0), tid).await.unwrap();
    let (p, _) = recv(&c).await;
    assert_eq!((&p[..4], p.len()), (&[0u8, 3, 0, 1][..], 516));
    // Not acknowledged: the same block again after the timeout.
    let (p2, _) = recv(&c).await;
    assert_eq!(p2, p, "retransmitted");
    // A duplicate acknowledgement of an earlier block sends nothing new.
    c.send_to(&ack(0), tid).await.unwrap();
    c.send_to(&ack(1), tid).await.unwrap();
    let (p, _) = recv(&c).await;
    assert_eq!(&p[..4], &[0, 3, 0, 2]);
    c.send_to(&ack(2), tid).await.unwrap();
    let (p, _) = recv(&c).await;
    assert_eq!(p, [0, 3, 0, 3], "the empty last block");
    c.send_to(&ack(3), tid).await.unwrap();

    // 75,001 blocks of 8 bytes: block numbers roll over to 0 and the content is whole.
    c.send_to(&rrq("big", &[("blksize", "8")]), server).await.unwrap();
    let (p, tid) = recv(&c).await;
    assert_eq!(p, b"\x00\x06blksize\x008\x00");
    c.send_to(&ack(0), tid).await.unwrap();
    let mut got = Vec::new();
    let mut expect: u16 = 1;
    loop {
        let (p, _) = recv(&c).await;
        assert_eq!(u16::from_be_bytes([p[2], p[3]]), expect);
        got.extend_from_slice(&p[4..]);
        c.send_to(&ack(expect), tid).await.unwrap();
        if p.len() < 12 {
            break;
        }
        expect = expect.wrapping_add(1);
    }
    assert_eq!(got, std::fs::read(root.path().join("big")).unwrap());
    assert_eq!(expect, (75_001u32 % 65_536) as u16);

    // A client that never acknowledges: the transfer gives up after its retries.
    c.send_to(&rrq("undionly.kpxe", &[]), server).await.unwrap();
    let mut copies = 0;
    let mut b = vec![0u8; 1500];
    while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(800), c.recv_from(&mut b)).await {
        copies += 1;
    }
    assert_eq!(copies, 6, "the first send and 5 retransmissions");
}
