//! HTTPS: the strict test Ironic served over real TLS (rustls) with certificates generated here
//! (a CA and a server certificate for `localhost`/127.0.0.1). Verification must fail for an
//! unknown CA and a wrong host name, pass with `cafile` (IPA's option) or `ipa-insecure`, and a
//! server that requires client certificates accepts `certfile`+`keyfile`.

mod proto_common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ferric_agent::client::{ClientError, ClientOptions, IronicClient};
use ferric_agent::clock::ManualClock;
use proto_common::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::{self, pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer}};
use tokio_rustls::TlsAcceptor;

const MAC: &str = "52:54:00:12:34:56";

struct Pki {
    dir: tempfile::TempDir,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

struct Issued {
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    cert_file: PathBuf,
    key_file: PathBuf,
}

impl Pki {
    fn new() -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, "ferric test CA");
        let ca = p.self_signed(&ca_key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        Pki { dir, ca, ca_key }
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A certificate for `names` (DNS names or IP addresses) signed by the CA.
    fn issue(&self, label: &str, names: &[&str]) -> Issued {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        p.distinguished_name.push(DnType::CommonName, label);
        let cert = p.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        let cert_file = self.dir.path().join(format!("{label}.pem"));
        let key_file = self.dir.path().join(format!("{label}.key"));
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        Issued {
            cert: cert.der().clone(),
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            cert_file,
            key_file,
        }
    }
}

/// TLS in front of the test Ironic; counts failed handshakes.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    failed: Arc<AtomicUsize>,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((s, a)) = self.tcp.accept().await else { continue };
            match self.acceptor.accept(s).await {
                Ok(t) => return (t, a),
                Err(_) => {
                    self.failed.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Serve `ironic` over HTTPS with `server`'s certificate; with `client_ca`, client
/// certificates signed by it are required. The port and the failed-handshake counter.
async fn serve_tls(ironic: Arc<Ironic>, server: &Issued, client_ca: Option<&Pki>) -> (u16, Arc<AtomicUsize>) {
    let b = rustls::ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions().unwrap();
    let b = match client_ca {
        Some(pki) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(pki.ca.der().clone()).unwrap();
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider()).build().unwrap();
            b.with_client_cert_verifier(v)
        }
        None => b.with_no_client_auth(),
    };
    let mut cfg = b.with_single_cert(vec![server.cert.clone()], server.key.clone_key()).unwrap();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let failed = Arc::new(AtomicUsize::new(0));
    let l = TlsListener { tcp, acceptor: TlsAcceptor::from(Arc::new(cfg)), failed: failed.clone() };
    tokio::spawn(async move { axum::serve(l, router(ironic)).await.unwrap() });
    (port, failed)
}

fn opts(url: String) -> ClientOptions {
    ClientOptions {
        api_urls: vec![url],
        ironic_api_version: None,
        global_request_id: None,
        http_request_timeout: Duration::from_secs(5),
        insecure: false,
        agent_version: "13.0.0".into(),
        cafile: None,
        certfile: None,
        keyfile: None,
    }
}

/// One inspection post (5 attempts, the waits on a manual clock).
async fn post(o: ClientOptions) -> Result<serde_json::Value, ClientError> {
    let url = format!("{}/v1/continue_inspection", o.api_urls[0]);
    let c = IronicClient::new(o, Arc::new(ManualClock::new()))?;
    c.post_inspection(&[url], &json!({"inventory": {"interfaces": [{"mac_address": MAC}]}, "error": null})).await
}

/// The server's count of failed handshakes once it reaches `n` (it counts after the client
/// has given up), or what it is after 5 s.
async fn settled(failed: &AtomicUsize, n: usize) -> usize {
    for _ in 0..500 {
        if failed.load(Ordering::SeqCst) >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    failed.load(Ordering::SeqCst)
}

fn ironic() -> Arc<Ironic> {
    Ironic::new((1, 91), &[MAC])
}

#[tokio::test]
async fn https_is_verified_against_the_ca_file_or_not_at_all_when_insecure() {
    let pki = Pki::new();
    let server = pki.issue("server", &["localhost", "127.0.0.1"]);
    let ir = ironic();
    let (port, failed) = serve_tls(ir.clone(), &server, None).await;
    let url = format!("https://localhost:{port}");

    // An unknown CA: every attempt fails in the handshake, nothing reaches the server.
    let err = post(opts(url.clone())).await.unwrap_err();
    match &err {
        ClientError::Connection(m) => assert!(m.contains("UnknownIssuer") || m.contains("certificate"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(settled(&failed, 5).await, 5);
    assert!(ir.requests("/v1/continue_inspection").is_empty());

    // ipa-insecure=1: no verification.
    let v = post(ClientOptions { insecure: true, ..opts(url.clone()) }).await.unwrap();
    assert!(v.get("uuid").is_some(), "{v}");
    assert_eq!(ir.requests("/v1/continue_inspection").len(), 1);

    // cafile: verified, by DNS name and by IP address.
    post(ClientOptions { cafile: Some(pki.ca_file()), ..opts(url.clone()) }).await.unwrap();
    post(ClientOptions { cafile: Some(pki.ca_file()), ..opts(format!("https://127.0.0.1:{port}")) }).await.unwrap();
    assert_eq!(ir.requests("/v1/continue_inspection").len(), 3);
    assert_eq!(ir.violations(), Vec::<String>::new());
    assert_eq!(failed.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn the_host_name_is_checked() {
    let pki = Pki::new();
    let server = pki.issue("server", &["ironic.example"]);
    let ir = ironic();
    let (port, failed) = serve_tls(ir.clone(), &server, None).await;
    let err = post(ClientOptions { cafile: Some(pki.ca_file()), ..opts(format!("https://127.0.0.1:{port}")) }).await.unwrap_err();
    match &err {
        ClientError::Connection(m) => assert!(m.contains("NotValidForName") || m.contains("not valid for"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(settled(&failed, 5).await, 5);
    // A CA file that is somebody else's: refused too.
    let other = Pki::new();
    let err = post(ClientOptions { cafile: Some(other.ca_file()), ..opts(format!("https://localhost:{port}")) }).await;
    assert!(matches!(err, Err(ClientError::Connection(_))), "{err:?}");
    assert!(ir.requests("/").is_empty() && ir.requests("/v1/continue_inspection").is_empty());
}

#[tokio::test]
async fn lookup_and_heartbeat_over_https() {
    let pki = Pki::new();
    let server = pki.issue("server", &["localhost"]);
    let ir = ironic();
    let (port, _) = serve_tls(ir.clone(), &server, None).await;
    let c = IronicClient::new(
        ClientOptions { cafile: Some(pki.ca_file()), ..opts(format!("https://localhost:{port}")) },
        Arc::new(ManualClock::new()),
    )
    .unwrap();
    let r = c
        .lookup_node(&[MAC.to_string()], None, Duration::from_secs(60), Duration::from_secs(1), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(r.uuid(), NODE_UUID);
    assert_eq!(c.api_version().await, (1, 91));
    assert_eq!(ir.requests("/v1/lookup").len(), 1);
    assert_eq!(ir.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn client_certificates_from_certfile_and_keyfile() {
    let pki = Pki::new();
    let server = pki.issue("server", &["localhost"]);
    let client = pki.issue("agent", &["agent.example"]);
    let ir = ironic();
    let (port, failed) = serve_tls(ir.clone(), &server, Some(&pki)).await;
    let base = ClientOptions { cafile: Some(pki.ca_file()), ..opts(format!("https://localhost:{port}")) };
    // Without a client certificate the server refuses the handshake.
    assert!(matches!(post(base.clone()).await, Err(ClientError::Connection(_))));
    assert!(settled(&failed, 1).await >= 1);
    assert!(ir.requests("/v1/continue_inspection").is_empty());
    post(ClientOptions { certfile: Some(client.cert_file.clone()), keyfile: Some(client.key_file.clone()), ..base.clone() }).await.unwrap();
    assert_eq!(ir.requests("/v1/continue_inspection").len(), 1);
}

#[test]
fn tls_configuration_errors_are_reported_up_front() {
    let clock = || Arc::new(ManualClock::new());
    let pki = Pki::new();
    let client = pki.issue("agent", &["agent.example"]);
    let o = opts("https://localhost:1".into());
    let missing = PathBuf::from("/nonexistent/ca.pem");
    let e = IronicClient::new(ClientOptions { cafile: Some(missing), ..o.clone() }, clock()).err().unwrap();
    assert!(matches!(&e, ClientError::Config(m) if m.contains("cafile /nonexistent/ca.pem")), "{e:?}");
    let junk = pki.dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let e = IronicClient::new(ClientOptions { cafile: Some(junk), ..o.clone() }, clock()).err().unwrap();
    assert!(matches!(&e, ClientError::Config(m) if m.contains("no PEM certificate")), "{e:?}");
    let e = IronicClient::new(ClientOptions { certfile: Some(client.cert_file.clone()), ..o.clone() }, clock()).err().unwrap();
    assert!(matches!(&e, ClientError::Config(m) if m.contains("together")), "{e:?}");
    assert!(IronicClient::new(ClientOptions { cafile: Some(pki.ca_file()), ..o }, clock()).is_ok());
}
