//! Erasing disks: partition tables and signatures on image files built here (and on a loop
//! device over such a file when running as root), whole-device overwrites, the clean steps'
//! device selection and IPA's erase options. Never the host's disks: every device is a file in
//! a temporary directory or a loop device attached to one by this test.

mod proto_common;

use ferric_agent::commands::clean::DeviceSource;
use ferric_agent::commands::{CommandRunner, CommandStatus};
use ferric_agent::config::Config;
use ferric_agent::disk::{self, BlockDevice};
use ferric_agent::inventory::InventoryData;
use ferric_agent::run::default_registry;
use proto_common::FakeSystem;
use serde_json::{json, Value};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const FILL: u8 = 0xA5;
const MIB: u64 = 1 << 20;
const SS: u64 = 512;

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for b in data {
        crc ^= *b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A file of `size` bytes, every byte FILL.
fn image(dir: &Path, name: &str, size: u64) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, vec![FILL; size as usize]).unwrap();
    p
}

fn write(p: &Path, off: u64, bytes: &[u8]) {
    let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
    f.write_all_at(bytes, off).unwrap();
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

fn guid(s: &str) -> [u8; 16] {
    let h: String = s.chars().filter(|c| *c != '-').collect();
    let raw: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let mut g = [0u8; 16];
    g[0..4].copy_from_slice(&[raw[3], raw[2], raw[1], raw[0]]);
    g[4..6].copy_from_slice(&[raw[5], raw[4]]);
    g[6..8].copy_from_slice(&[raw[7], raw[6]]);
    g[8..].copy_from_slice(&raw[8..]);
    g
}

const LINUX_FS: &str = "0FC63DAF-8483-4772-8E79-3D47D8E7E8DB";
const GPFS: &str = "37AFFC90-EF7D-4E96-91C3-2D7AE055B174";

/// A valid GPT (protective MBR, primary and backup headers and entries, with CRCs) with the
/// given partitions `(type, first_lba, last_lba)`.
fn write_gpt(p: &Path, parts: &[(&str, u64, u64)]) {
    let size = std::fs::metadata(p).unwrap().len();
    let last = size / SS - 1;
    let mut mbr = vec![0u8; 512];
    mbr[446 + 4] = 0xEE;
    mbr[446 + 8..446 + 12].copy_from_slice(&1u32.to_le_bytes());
    mbr[446 + 12..446 + 16].copy_from_slice(&(last as u32).to_le_bytes());
    mbr[510] = 0x55;
    mbr[511] = 0xAA;
    write(p, 0, &mbr);
    let mut entries = vec![0u8; 128 * 128];
    for (i, (t, first, lastp)) in parts.iter().enumerate() {
        let e = &mut entries[i * 128..(i + 1) * 128];
        e[0..16].copy_from_slice(&guid(t));
        e[16..32].copy_from_slice(
            &guid("11111111-2222-3333-4444-555555555555").map(|b| b.wrapping_add(i as u8)),
        );
        e[32..40].copy_from_slice(&first.to_le_bytes());
        e[40..48].copy_from_slice(&lastp.to_le_bytes());
    }
    let ecrc = crc32(&entries);
    let header = |my: u64, alt: u64, entries_lba: u64| {
        let mut h = vec![0u8; 512];
        h[0..8].copy_from_slice(b"EFI PART");
        h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        h[24..32].copy_from_slice(&my.to_le_bytes());
        h[32..40].copy_from_slice(&alt.to_le_bytes());
        h[40..48].copy_from_slice(&34u64.to_le_bytes());
        h[48..56].copy_from_slice(&(last - 33).to_le_bytes());
        h[56..72].copy_from_slice(&guid("A1B2C3D4-0000-1111-2222-333344445555"));
        h[72..80].copy_from_slice(&entries_lba.to_le_bytes());
        h[80..84].copy_from_slice(&128u32.to_le_bytes());
        h[84..88].copy_from_slice(&128u32.to_le_bytes());
        h[88..92].copy_from_slice(&ecrc.to_le_bytes());
        let c = crc32(&h[..92]);
        h[16..20].copy_from_slice(&c.to_le_bytes());
        h
    };
    write(p, SS, &header(1, last, 2));
    write(p, 2 * SS, &entries);
    write(p, (last - 32) * SS, &entries);
    write(p, last * SS, &header(last, 1, last - 32));
}

/// An MBR with the given primary entries `(type, start_lba, sectors)`.
fn write_mbr(p: &Path, off: u64, entries: &[(u8, u32, u32)]) {
    let mut s = vec![0u8; 512];
    for (i, (t, start, len)) in entries.iter().enumerate() {
        let e = &mut s[446 + 16 * i..446 + 16 * (i + 1)];
        e[4] = *t;
        e[8..12].copy_from_slice(&start.to_le_bytes());
        e[12..16].copy_from_slice(&len.to_le_bytes());
    }
    s[510] = 0x55;
    s[511] = 0xAA;
    write(p, off, &s);
}

/// What the image must look like after a metadata wipe: the original with the partition table
/// areas (first 34 and last 33 sectors) and the listed magic bytes zeroed, nothing else.
fn expect_wiped(original: &[u8], magics: &[(u64, usize)]) -> Vec<u8> {
    let mut e = original.to_vec();
    let n = e.len();
    e[..34 * 512].fill(0);
    e[n - 33 * 512..].fill(0);
    for (off, len) in magics {
        e[*off as usize..*off as usize + len].fill(0);
    }
    e
}

fn assert_same(actual: &[u8], expected: &[u8]) {
    assert_eq!(actual.len(), expected.len());
    if let Some(i) = actual.iter().zip(expected).position(|(a, b)| a != b) {
        panic!(
            "first difference at byte {i:#x}: {:#04x}, expected {:#04x}",
            actual[i], expected[i]
        );
    }
}

#[test]
fn gpt_partitions_and_their_filesystems_are_erased_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let p = image(dir.path(), "disk", 16 * MIB);
    write_gpt(&p, &[(LINUX_FS, 2048, 6143), (LINUX_FS, 8192, 16383)]);
    let p1 = 2048 * SS;
    let p2 = 8192 * SS;
    write(&p, p1 + 0x438, &[0x53, 0xEF]); // ext4
    write(&p, p2 + 512, b"LABELONE"); // LVM2 PV label in sector 1
    write(&p, p2 + 512 + 24, b"LVM2 001");
    write(&p, p2 + 0x1_0040, b"_BHRfS_M"); // and a stale btrfs superblock
    let original = read(&p);

    let parts = disk::read_partitions(&p, SS).unwrap();
    assert_eq!(
        parts.iter().map(|x| (x.start, x.len)).collect::<Vec<_>>(),
        vec![(p1, 4096 * SS), (p2, 8192 * SS)]
    );
    let found = disk::probe_signatures(&p, SS).unwrap();
    let whats: Vec<&str> = found.iter().map(|s| s.what).collect();
    for w in ["gpt", "ext2/ext3/ext4", "LVM2_member", "btrfs"] {
        assert!(whats.contains(&w), "{w} not detected in {whats:?}");
    }

    let report = disk::destroy_disk_metadata(&p, SS).unwrap();
    assert!(report
        .signatures
        .iter()
        .any(|s| s.what == "ext2/ext3/ext4" && s.offset == p1 + 0x438));
    let after = read(&p);
    assert_same(
        &after,
        &expect_wiped(
            &original,
            &[
                (p1 + 0x438, 2),
                (p2 + 512, 8),
                (p2 + 536, 8),
                (p2 + 0x1_0040, 8),
            ],
        ),
    );
    assert!(disk::read_partitions(&p, SS).unwrap().is_empty());
    assert!(disk::probe_signatures(&p, SS).unwrap().is_empty());
}

#[test]
fn backup_gpt_alone_is_found_and_erased() {
    let dir = tempfile::tempdir().unwrap();
    let p = image(dir.path(), "disk", 8 * MIB);
    write_gpt(&p, &[(LINUX_FS, 2048, 4095)]);
    write(&p, 2048 * SS, b"XFSB");
    // Destroy the primary table only: the backup still describes the partition.
    write(&p, 0, &vec![FILL; 34 * 512]);
    assert_eq!(disk::read_partitions(&p, SS).unwrap().len(), 1);
    let original = read(&p);
    disk::destroy_disk_metadata(&p, SS).unwrap();
    assert_same(&read(&p), &expect_wiped(&original, &[(2048 * SS, 4)]));
}

#[test]
fn mbr_primary_and_logical_partitions_are_erased() {
    let dir = tempfile::tempdir().unwrap();
    let p = image(dir.path(), "disk", 16 * MIB);
    // p1 at 1 MiB (Linux), extended at 4 MiB with one logical partition 1 MiB into it.
    write_mbr(&p, 0, &[(0x83, 2048, 4096), (0x05, 8192, 16384)]);
    write_mbr(&p, 8192 * SS, &[(0x83, 2048, 4096)]);
    write(&p, 2048 * SS + 0x438, &[0x53, 0xEF]);
    write(&p, (8192 + 2048) * SS, b"XFSB");
    write(&p, (8192 + 2048) * SS + 4086, b"SWAPSPACE2"); // not at a partition start: a swap in the logical one
    let parts = disk::read_partitions(&p, SS).unwrap();
    assert_eq!(
        parts.iter().map(|x| x.start / SS).collect::<Vec<_>>(),
        vec![2048, 10240]
    );
    let original = read(&p);
    disk::destroy_disk_metadata(&p, SS).unwrap();
    let after = read(&p);
    assert_same(
        &after,
        &expect_wiped(
            &original,
            &[
                (2048 * SS + 0x438, 2),
                ((8192 + 2048) * SS, 4),
                ((8192 + 2048) * SS + 4086, 10),
            ],
        ),
    );
    // The EBR itself (inside the device, not a signature) is left, as wipefs leaves it.
    assert_eq!(
        &after[(8192 * SS + 510) as usize..(8192 * SS + 512) as usize],
        &[0x55, 0xAA]
    );
}

#[test]
fn whole_device_filesystems_raid_and_zfs_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let p = image(dir.path(), "disk", 8 * MIB);
    let size = 8 * MIB;
    write(&p, 0x438, &[0x53, 0xEF]); // ext4 on the whole device (inside the zeroed lead anyway)
    write(&p, 0x1_0040, b"_BHRfS_M"); // btrfs primary superblock at 64 KiB
    write(&p, 0x8001, b"CD001"); // iso9660
    let md10 = ((size / 512 - 16) & !7) * 512; // md 1.0 near the end
    write(&p, md10, &[0xfc, 0x4e, 0x2b, 0xa9]);
    let zfs_ub = 256 * 1024 + 128 * 1024 + 5 * 1024; // label 1, uberblock 5
    write(&p, zfs_ub, &[0x0c, 0xb1, 0xba, 0, 0, 0, 0, 0]);
    assert!(disk::is_raid_member(&p).unwrap());
    let original = read(&p);
    disk::destroy_disk_metadata(&p, SS).unwrap();
    assert_same(
        &read(&p),
        &expect_wiped(
            &original,
            &[(0x1_0040, 8), (0x8001, 5), (md10, 4), (zfs_ub, 8)],
        ),
    );
    assert!(!disk::is_raid_member(&p).unwrap());
}

#[test]
fn small_devices_and_4k_sectors() {
    let dir = tempfile::tempdir().unwrap();
    // Smaller than the partition table area: all of it is zeroed, nothing beyond the end written.
    let p = image(dir.path(), "tiny", 8 * 1024);
    disk::destroy_disk_metadata(&p, SS).unwrap();
    assert_eq!(read(&p), vec![0u8; 8 * 1024]);
    // 4 KiB sectors: 6 sectors at the start (MBR, header, 16 KiB of entries), 5 at the end.
    let p = image(dir.path(), "4k", 4 * MIB);
    disk::destroy_disk_metadata(&p, 4096).unwrap();
    let after = read(&p);
    let n = after.len();
    assert!(after[..6 * 4096].iter().all(|b| *b == 0));
    assert!(after[n - 5 * 4096..].iter().all(|b| *b == 0));
    assert!(after[6 * 4096..n - 5 * 4096].iter().all(|b| *b == FILL));
}

#[test]
fn overwrite_random_then_zero() {
    let dir = tempfile::tempdir().unwrap();
    let p = image(dir.path(), "disk", 3 * MIB + 1234);
    disk::overwrite(&p, 1, false).unwrap();
    let random = read(&p);
    assert_eq!(random.len() as u64, 3 * MIB + 1234);
    let fill = random.iter().filter(|b| **b == FILL).count();
    assert!(
        fill < random.len() / 100,
        "{fill} bytes still hold the fill pattern"
    );
    assert!(
        random[random.len() - 1234..].iter().any(|b| *b != FILL),
        "the tail after the last full chunk was not written"
    );
    disk::overwrite(&p, 0, true).unwrap();
    assert!(read(&p).iter().all(|b| *b == 0));
}

// --- the clean steps through the command runner ------------------------------------------

struct Devices {
    _dir: tempfile::TempDir,
    paths: Vec<PathBuf>,
}

fn devices(n: usize) -> Devices {
    let dir = tempfile::tempdir().unwrap();
    let paths = (0..n)
        .map(|i| {
            image(
                dir.path(),
                &format!("sd{}", (b'a' + i as u8) as char),
                2 * MIB,
            )
        })
        .collect();
    Devices { _dir: dir, paths }
}

fn runner(paths: &[PathBuf], system: Arc<FakeSystem>) -> CommandRunner {
    let list: Vec<BlockDevice> = paths
        .iter()
        .map(|p| BlockDevice {
            name: p.to_string_lossy().into(),
            size: 2 * MIB,
            ..Default::default()
        })
        .collect();
    let source: DeviceSource = Arc::new(move || Ok(list.clone()));
    let hw = Arc::new(|_: &[String]| InventoryData::default());
    CommandRunner::new(default_registry(&Config::default(), hw, system, source))
}

async fn step(
    r: &CommandRunner,
    name: &str,
    dii: Value,
    properties: Value,
) -> (CommandStatus, Value) {
    let params = json!({
        "step": {"step": name, "priority": 10, "interface": "deploy"},
        "node": {"uuid": proto_common::NODE_UUID, "driver_internal_info": dii, "properties": properties},
        "ports": [],
        "clean_version": {"generic_hardware_manager": "1.2"},
    });
    let res = r
        .execute(
            "clean.execute_clean_step",
            params.as_object().unwrap().clone(),
        )
        .await
        .unwrap();
    res.wait().await;
    (res.status(), res.to_json())
}

fn name(p: &Path) -> String {
    p.to_string_lossy().into()
}

#[tokio::test]
async fn erase_devices_overwrites_every_listed_device() {
    let d = devices(2);
    let sys = Arc::new(FakeSystem::default());
    let r = runner(&d.paths, sys.clone());
    let (st, res) = step(&r, "erase_devices", json!({}), json!({})).await;
    assert_eq!(st, CommandStatus::Succeeded, "{res}");
    let mut expected = serde_json::Map::new();
    for p in &d.paths {
        expected.insert(name(p), Value::Null);
        assert!(
            read(p).iter().all(|b| *b == 0),
            "{} not zeroed",
            p.display()
        );
    }
    assert_eq!(
        res["command_result"]["clean_result"],
        Value::Object(expected)
    );
    // ATA secure erase was offered first (and declined by the fake).
    assert_eq!(
        sys.calls(),
        d.paths
            .iter()
            .map(|p| format!("secure_erase Ata {}", p.display()))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn erase_devices_honours_iterations_zeroize_and_concurrency() {
    let d = devices(2);
    let r = runner(&d.paths, Arc::new(FakeSystem::default()));
    let (st, _) = step(
        &r,
        "erase_devices",
        json!({"agent_erase_devices_iterations": 0, "agent_erase_devices_zeroize": false}),
        json!({}),
    )
    .await;
    assert_eq!(st, CommandStatus::Succeeded);
    for p in &d.paths {
        assert!(read(p).iter().all(|b| *b == FILL), "no pass was asked for");
    }
    let (st, _) =
        step(&r, "erase_devices", json!({"agent_erase_devices_iterations": 1, "agent_erase_devices_zeroize": false, "disk_erasure_concurrency": 2}), json!({}))
            .await;
    assert_eq!(st, CommandStatus::Succeeded);
    for p in &d.paths {
        let data = read(p);
        assert!(data.iter().filter(|b| **b == FILL).count() < data.len() / 100);
        assert!(data.iter().any(|b| *b != 0), "a random pass is not zeros");
    }
}

#[tokio::test]
async fn secure_erase_outcomes() {
    // Done in firmware: the agent does not overwrite.
    let d = devices(1);
    let sys = Arc::new(FakeSystem::default());
    sys.secure_erase.lock().unwrap().push_back(Ok(true));
    let r = runner(&d.paths, sys.clone());
    assert_eq!(
        step(&r, "erase_devices", json!({}), json!({})).await.0,
        CommandStatus::Succeeded
    );
    assert!(read(&d.paths[0]).iter().all(|b| *b == FILL));

    // Failed, no fallback allowed: the step fails and the device is untouched.
    sys.secure_erase
        .lock()
        .unwrap()
        .push_back(Err("security erase failed".into()));
    let (st, res) = step(&r, "erase_devices", json!({}), json!({})).await;
    assert_eq!(st, CommandStatus::Failed);
    assert_eq!(
        res["command_error"]["type"],
        "IncompatibleHardwareMethodError"
    );
    assert_eq!(
        res["command_error"]["details"],
        "Failed to invoke secure erase, fallback to shred is not enabled: Error erasing block device: security erase failed"
    );
    assert!(read(&d.paths[0]).iter().all(|b| *b == FILL));

    // Failed, fallback allowed (also under the old flag name): overwritten.
    for flag in [
        "agent_continue_if_secure_erase_failed",
        "agent_continue_if_ata_erase_failed",
    ] {
        std::fs::write(&d.paths[0], vec![FILL; 2 * MIB as usize]).unwrap();
        sys.secure_erase
            .lock()
            .unwrap()
            .push_back(Err("security erase failed".into()));
        let (st, res) = step(&r, "erase_devices", json!({flag: true}), json!({})).await;
        assert_eq!(st, CommandStatus::Succeeded, "{res}");
        assert!(read(&d.paths[0]).iter().all(|b| *b == 0));
    }

    // Secure erase disabled by Ironic: not even tried.
    let before = sys.calls().len();
    assert_eq!(
        step(
            &r,
            "erase_devices",
            json!({"agent_enable_ata_secure_erase": false}),
            json!({})
        )
        .await
        .0,
        CommandStatus::Succeeded
    );
    assert_eq!(
        sys.calls().len(),
        before,
        "secure erase was attempted although disabled"
    );
}

#[tokio::test]
async fn read_only_virtual_media_and_skip_list() {
    let d = devices(3);
    let (a, b, c) = (name(&d.paths[0]), name(&d.paths[1]), name(&d.paths[2]));
    let sys = Arc::new(FakeSystem {
        read_only: vec![a.clone()],
        virtual_media: vec![b.clone()],
        ..Default::default()
    });
    let r = runner(&d.paths, sys);
    let (st, res) = step(&r, "erase_devices", json!({}), json!({})).await;
    assert_eq!(st, CommandStatus::Failed);
    assert_eq!(res["command_error"]["type"], "BlockDeviceEraseError");
    assert!(res["command_error"]["details"]
        .as_str()
        .unwrap()
        .contains("flagged read-only"));

    let (st, _) = step(
        &r,
        "erase_devices",
        json!({"agent_erase_skip_read_only": true}),
        json!({}),
    )
    .await;
    assert_eq!(st, CommandStatus::Succeeded);
    assert!(
        read(&d.paths[0]).iter().all(|x| *x == FILL),
        "read-only device written"
    );
    assert!(
        read(&d.paths[1]).iter().all(|x| *x == FILL),
        "virtual media written"
    );
    assert!(read(&d.paths[2]).iter().all(|x| *x == 0));

    // skip_block_devices by name keeps a device out of every step.
    std::fs::write(&d.paths[2], vec![FILL; 2 * MIB as usize]).unwrap();
    let (st, res) = step(
        &r,
        "erase_devices",
        json!({"agent_erase_skip_read_only": true}),
        json!({"skip_block_devices": [{"name": c}]}),
    )
    .await;
    assert_eq!(st, CommandStatus::Succeeded);
    assert!(res["command_result"]["clean_result"].get(&c).is_none());
    assert!(read(&d.paths[2]).iter().all(|x| *x == FILL));

    // A hint this agent cannot evaluate exactly stops the step instead of being ignored.
    let (st, res) = step(
        &r,
        "erase_devices",
        json!({}),
        json!({"skip_block_devices": [{"size": ">= 10"}]}),
    )
    .await;
    assert_eq!(st, CommandStatus::Failed);
    assert_eq!(res["command_error"]["type"], "CleaningError");
}

#[tokio::test]
async fn erase_devices_metadata_step_wipes_tables_and_skips_raid_members() {
    let d = devices(2);
    write_gpt(&d.paths[0], &[(LINUX_FS, 2048, 3071)]);
    write(&d.paths[0], 2048 * SS + 0x438, &[0x53, 0xEF]);
    let original = read(&d.paths[0]);
    write(&d.paths[1], 0x1000, &[0xfc, 0x4e, 0x2b, 0xa9]); // md 1.2 member
    let raid = read(&d.paths[1]);
    let sys = Arc::new(FakeSystem::default());
    let r = runner(&d.paths, sys.clone());
    let (st, res) = step(&r, "erase_devices_metadata", json!({}), json!({})).await;
    assert_eq!(st, CommandStatus::Succeeded, "{res}");
    assert_eq!(res["command_result"]["clean_result"], Value::Null);
    assert_same(
        &read(&d.paths[0]),
        &expect_wiped(&original, &[(2048 * SS + 0x438, 2)]),
    );
    assert_same(&read(&d.paths[1]), &raid);
    assert_eq!(sys.calls(), [format!("reread {}", d.paths[0].display())]);

    // Express on a non-NVMe device is a metadata erase too.
    write_gpt(&d.paths[0], &[(LINUX_FS, 2048, 3071)]);
    let (st, _) = step(&r, "erase_devices_express", json!({}), json!({})).await;
    assert_eq!(st, CommandStatus::Succeeded);
    assert!(disk::read_partitions(&d.paths[0], SS).unwrap().is_empty());
}

#[tokio::test]
async fn shared_cluster_filesystems_are_protected() {
    let d = devices(2);
    write_gpt(&d.paths[1], &[(GPFS, 2048, 3071)]);
    let first = read(&d.paths[0]);
    let gpfs = read(&d.paths[1]);
    let r = runner(&d.paths, Arc::new(FakeSystem::default()));
    for s in ["erase_devices_metadata", "erase_devices"] {
        let (st, res) = step(&r, s, json!({}), json!({})).await;
        assert_eq!(st, CommandStatus::Failed, "{s}");
        assert_eq!(res["command_error"]["type"], "ProtectedDeviceError");
        let details = res["command_error"]["details"].as_str().unwrap();
        assert!(
            details.starts_with(&format!(
                "Protected IBM GPFS Partition located on device {}.",
                d.paths[1].display()
            )),
            "{details}"
        );
        // Checked before anything is touched, on every device.
        assert_same(&read(&d.paths[0]), &first);
        assert_same(&read(&d.paths[1]), &gpfs);
    }
    // GFS2 on a whole device is protected too.
    let g = devices(1);
    write(&g.paths[0], 0x1_0000, &[0x01, 0x16, 0x19, 0x70, 0, 0, 0, 1]);
    let r2 = runner(&g.paths, Arc::new(FakeSystem::default()));
    let (st, res) = step(&r2, "erase_devices_metadata", json!({}), json!({})).await;
    assert_eq!(st, CommandStatus::Failed);
    assert!(res["command_error"]["details"]
        .as_str()
        .unwrap()
        .starts_with("Protected Red Hat Global File System 2 located"));
    // Ironic can lift the protection per node.
    let (st, _) = step(
        &r,
        "erase_devices_metadata",
        json!({"wipe_special_filesystems": false}),
        json!({}),
    )
    .await;
    assert_eq!(st, CommandStatus::Succeeded);
    assert!(disk::read_partitions(&d.paths[1], SS).unwrap().is_empty());
}

// --- a loop device over an image (root only) ----------------------------------------------

struct Loop(String);

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = std::process::Command::new("losetup")
            .args(["-d", &self.0])
            .status();
    }
}

fn attach(file: &Path) -> Option<Loop> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !Path::new("/dev/loop-control").exists() {
        return None;
    }
    let out = std::process::Command::new("losetup")
        .args(["--find", "--show"])
        .arg(file)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let dev = String::from_utf8(out.stdout).ok()?.trim().to_string();
    dev.starts_with("/dev/loop").then_some(Loop(dev))
}

fn tool(name: &str, args: &[&str]) -> Option<std::process::Output> {
    std::process::Command::new(name).args(args).output().ok()
}

#[tokio::test]
async fn loop_device_metadata_erase() {
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), "loopdisk", 16 * MIB);
    write_gpt(&img, &[(LINUX_FS, 2048, 10239)]);
    write(&img, 2048 * SS + 0x438, &[0x53, 0xEF]);
    let original = read(&img);
    let Some(lo) = attach(&img) else {
        eprintln!("skipping: needs root and loop devices");
        return;
    };
    let dev = PathBuf::from(&lo.0);
    // blkid, when present, sees the partition table before...
    if let Some(o) = tool("blkid", &["-p", "-o", "export", &lo.0]) {
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("PTTYPE=gpt"),
            "blkid did not see the GPT: {o:?}"
        );
    }
    // The real system: BLKRRPART on a loop device without partition scanning is refused, which
    // the step only logs.
    let list = vec![BlockDevice {
        name: lo.0.clone(),
        size: 16 * MIB,
        ..Default::default()
    }];
    let source: DeviceSource = Arc::new(move || Ok(list.clone()));
    let hw = Arc::new(|_: &[String]| InventoryData::default());
    let r = CommandRunner::new(default_registry(
        &Config::default(),
        hw,
        Arc::new(ferric_agent::system::LinuxSystem),
        source,
    ));
    let (st, res) = step(&r, "erase_devices_metadata", json!({}), json!({})).await;
    assert_eq!(st, CommandStatus::Succeeded, "{res}");
    // ...and nothing after; wipefs lists no signature either.
    if let Some(o) = tool("blkid", &["-p", "-o", "export", &lo.0]) {
        assert!(
            !String::from_utf8_lossy(&o.stdout).contains("PTTYPE"),
            "blkid still sees a table: {o:?}"
        );
    }
    if let Some(o) = tool("wipefs", &["--no-act", "--all", &lo.0]).filter(|o| o.status.success()) {
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            "",
            "wipefs still finds signatures"
        );
    }
    assert!(disk::read_partitions(&dev, SS).unwrap().is_empty());
    drop(lo);
    assert_same(
        &read(&img),
        &expect_wiped(&original, &[(2048 * SS + 0x438, 2)]),
    );
}

#[test]
fn real_mkfs_signatures_are_removed() {
    // mkfs.ext4 and mkswap write real superblocks into a plain file; blkid must see nothing after.
    let dir = tempfile::tempdir().unwrap();
    for (tool_name, args) in [("mkfs.ext4", vec!["-q", "-F"]), ("mkswap", vec![])] {
        let img = image(dir.path(), tool_name, 16 * MIB);
        let mut a: Vec<&str> = args.clone();
        let s = img.to_string_lossy().to_string();
        a.push(&s);
        let Some(o) = tool(tool_name, &a) else {
            eprintln!("skipping {tool_name}: not installed");
            continue;
        };
        assert!(o.status.success(), "{tool_name}: {o:?}");
        let Some(before) = tool("blkid", &["-p", "-o", "export", &s]) else {
            continue;
        };
        let want = if tool_name == "mkswap" {
            "TYPE=swap"
        } else {
            "TYPE=ext4"
        };
        assert!(
            String::from_utf8_lossy(&before.stdout).contains(want),
            "{before:?}"
        );
        let report = disk::destroy_disk_metadata(&img, SS).unwrap();
        assert!(!report.signatures.is_empty());
        let after = tool("blkid", &["-p", "-o", "export", &s]).unwrap();
        assert!(
            !String::from_utf8_lossy(&after.stdout).contains("TYPE="),
            "{tool_name}: blkid still detects {after:?}"
        );
    }
}
