//! `ferric agent capture`: a capture of a captured tree is the same tree (so the Rust capture
//! takes exactly what `capture.py` took when it made `fixtures/this-machine`), as a directory and
//! as a tar archive that GNU tar extracts, and the collectors read the same inventory back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use ferric_agent::hardware::capture::{capture_to_dir, capture_to_tar, FILE_CAP};
use ferric_agent::hardware::{collect, Collected};

const ALL_BUT_LOGS: &[&str] = &["default", "pci-devices", "lldp", "dmi-decode", "numa-topology"];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

#[derive(Debug, PartialEq, Eq)]
enum Entry {
    File(Vec<u8>),
    Link(String),
}

/// Every regular file (with its content) and link (with its target) under `root`. Empty
/// directories are left out: git does not keep them, so the committed fixtures have none.
fn tree(root: &Path) -> BTreeMap<String, Entry> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Entry>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let md = std::fs::symlink_metadata(&p).unwrap();
            if md.file_type().is_symlink() {
                out.insert(rel, Entry::Link(std::fs::read_link(&p).unwrap().to_string_lossy().into_owned()));
            } else if md.is_dir() {
                walk(root, &p, out);
            } else {
                out.insert(rel, Entry::File(std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn same_reading(a: &Collected, b: &Collected) {
    assert_eq!(a.inventory, b.inventory);
    assert_eq!(a.plugin_data, b.plugin_data);
    assert_eq!(a.warnings, b.warnings);
}

#[test]
fn capture_of_this_machine_fixture_is_identical_and_reads_the_same() {
    let src = fixture("this-machine");
    let dst = tempfile::tempdir().unwrap();
    let out = dst.path().join("tree");
    let sum = capture_to_dir(&src, &out).unwrap();
    let (a, b) = (tree(&src), tree(&out));
    let only_src: Vec<&String> = a.keys().filter(|k| !b.contains_key(*k)).collect();
    let only_dst: Vec<&String> = b.keys().filter(|k| !a.contains_key(*k)).collect();
    assert!(only_src.is_empty() && only_dst.is_empty(), "missing: {only_src:?}\nextra: {only_dst:?}");
    for (k, v) in &a {
        assert_eq!(Some(v), b.get(k), "{k}");
    }
    let files = a.values().filter(|e| matches!(e, Entry::File(_))).count();
    assert_eq!(sum.files, files);
    assert_eq!(sum.links, a.len() - files);
    assert!(files > 300, "{files}");
    same_reading(&collect(&src, ALL_BUT_LOGS), &collect(&out, ALL_BUT_LOGS));
}

#[test]
fn capture_to_a_tar_extracts_with_gnu_tar_to_the_same_tree() {
    let src = fixture("this-machine");
    let dst = tempfile::tempdir().unwrap();
    let mut tar = Vec::new();
    let sum = capture_to_tar(&src, &mut tar).unwrap();
    assert_eq!(tar.len() % 512, 0);
    assert!(tar[tar.len() - 1024..].iter().all(|&b| b == 0));
    let file = dst.path().join("cap.tar");
    std::fs::write(&file, &tar).unwrap();
    let x = dst.path().join("x");
    std::fs::create_dir(&x).unwrap();
    let st = Command::new("tar").arg("-xf").arg(&file).arg("-C").arg(&x).status().expect("GNU tar");
    assert!(st.success());
    assert_eq!(tree(&src), tree(&x));
    assert_eq!(sum, capture_to_dir(&src, &dst.path().join("d")).unwrap());
    same_reading(&collect(&src, ALL_BUT_LOGS), &collect(&x, ALL_BUT_LOGS));
    // The same machine captures to the same bytes (no timestamps).
    let mut again = Vec::new();
    capture_to_tar(&src, &mut again).unwrap();
    assert!(again == tar);
}

#[test]
fn capture_takes_only_what_the_collectors_read_and_caps_files() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    let w = |p: &str, c: &[u8]| {
        let f = r.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, c).unwrap();
    };
    w("proc/cpuinfo", &vec![b'x'; 100_000]);
    w("proc/meminfo", b"MemTotal: 1 kB\n");
    w("etc/shadow", b"secret");
    w("home/u/.ssh/id_rsa", b"secret");
    // Paths and link targets over tar's 100 bytes.
    let deep = format!("devices/pci0000:00/{}/virtio0/net/eth0", ["0000:00:1c.0"; 8].join("/"));
    w(&format!("sys/{deep}/address"), b"52:54:00:00:00:01\n");
    std::fs::create_dir_all(r.join("sys/class/net")).unwrap();
    std::os::unix::fs::symlink(format!("../../{deep}"), r.join("sys/class/net/eth0")).unwrap();
    // A link pointing out of the tree is kept as a link, never followed out of the root.
    std::fs::create_dir_all(r.join("sys/block")).unwrap();
    std::os::unix::fs::symlink("/etc", r.join("sys/block/evil")).unwrap();
    let out = t.path().join("out");
    capture_to_dir(r, &out).unwrap();
    let got = tree(&out);
    let names: Vec<&str> = got.keys().map(String::as_str).collect();
    let address = format!("sys/{deep}/address");
    assert_eq!(names, ["proc/cpuinfo", "proc/meminfo", "sys/block/evil", "sys/class/net/eth0", &address]);
    assert!(address.len() > 100 && deep.len() > 100);
    assert_eq!(got["proc/cpuinfo"], Entry::File(vec![b'x'; FILE_CAP as usize]));
    assert_eq!(got["sys/block/evil"], Entry::Link("/etc".into()));
    // Into a directory that is not empty: refused.
    assert!(capture_to_dir(r, &out).is_err());
    // The same through a tar archive and GNU tar.
    let mut tar = Vec::new();
    capture_to_tar(r, &mut tar).unwrap();
    let x = t.path().join("x");
    std::fs::create_dir(&x).unwrap();
    std::fs::write(t.path().join("c.tar"), &tar).unwrap();
    assert!(Command::new("tar").arg("-xf").arg(t.path().join("c.tar")).arg("-C").arg(&x).status().unwrap().success());
    assert_eq!(tree(&x), got);
    assert_eq!(collect(&x, &["default"]).inventory["interfaces"], collect(r, &["default"]).inventory["interfaces"]);
}
