//! Every profile's fixture tree, read back by the agent's own collectors: the inventory must be
//! the spec, field by field, with no warning. And how long a tree takes to write.

use std::collections::BTreeSet;
use std::time::Instant;

use ferric_agent::hardware::{collect, Collected};
use ferric_lab::profiles::{fleet, DiskKind, MachineSpec, Profile, RACK_SIZE};
use ferric_lab::tree::{write_tree, write_tree_with, TreeOptions};
use serde_json::{json, Value};

/// Trees belong on tmpfs (a disk costs ~0.4 ms per file here): /dev/shm when there is one.
fn scratch() -> tempfile::TempDir {
    match std::path::Path::new("/dev/shm").is_dir() && std::env::var_os("TMPDIR").is_none() {
        true => tempfile::tempdir_in("/dev/shm").unwrap(),
        false => tempfile::TempDir::new().unwrap(),
    }
}

const COLLECTORS: &[&str] = &["default", "lldp", "pci-devices", "dmi-decode", "numa-topology"];

/// One machine of each profile, and the second vendor of compute-1u (the next rack's).
fn machines() -> Vec<MachineSpec> {
    let mut v: Vec<MachineSpec> = Profile::ALL.iter().enumerate().map(|(i, p)| MachineSpec::generate(*p, i, 2024)).collect();
    v.push(MachineSpec::generate(Profile::Compute1u, RACK_SIZE + 4, 2024));
    v
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// (chassis MAC, port ID, system name, VLAN) from IPA's `[[type, hex], ...]` TLV list.
fn lldp_neighbour(tlvs: &Value) -> (String, String, String, u16) {
    let mut out = (String::new(), String::new(), String::new(), 0);
    for t in tlvs.as_array().unwrap() {
        let v = unhex(t[1].as_str().unwrap());
        match t[0].as_u64().unwrap() {
            1 => {
                assert_eq!(v[0], 4, "chassis ID subtype MAC");
                out.0 = v[1..].iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
            }
            2 => {
                assert_eq!(v[0], 5, "port ID subtype interface name");
                out.1 = String::from_utf8(v[1..].to_vec()).unwrap();
            }
            5 => out.2 = String::from_utf8(v).unwrap(),
            127 if v[..4] == [0x00, 0x80, 0xc2, 0x01] => out.3 = u16::from_be_bytes([v[4], v[5]]),
            _ => {}
        }
    }
    out
}

fn check(spec: &MachineSpec, c: &Collected) {
    let who = &spec.name;
    assert_eq!(c.warnings, Vec::<String>::new(), "{who}");
    let inv = &c.inventory;

    let cpu = &inv["cpu"];
    assert_eq!(cpu["count"], spec.cpu.logical(), "{who}");
    assert_eq!(cpu["socket_count"], spec.cpu.sockets, "{who}");
    assert_eq!(cpu["model_name"], spec.cpu.model.as_ref(), "{who}");
    assert_eq!(cpu["architecture"], "x86_64", "{who}");
    assert_eq!(cpu["frequency"], format!("{}.0000", spec.cpu.max_mhz), "{who}");
    assert_eq!(cpu["flags"], json!(spec.cpu.flags), "{who}");

    assert_eq!(inv["memory"], json!({"total": spec.mem_total_kib() * 1024, "physical_mb": spec.memory_mib()}), "{who}");

    let disks = inv["disks"].as_array().unwrap();
    assert_eq!(disks.len(), spec.disks.len(), "{who}: {disks:#?}");
    for d in &spec.disks {
        let name = format!("/dev/{}", d.name);
        let got = disks.iter().find(|x| x["name"] == name).unwrap_or_else(|| panic!("{who}: {name} missing"));
        assert_eq!(got["size"], d.size_bytes, "{who} {name}");
        assert_eq!(got["serial"], d.serial, "{who} {name}");
        assert_eq!(got["wwn"], d.wwn, "{who} {name}");
        assert_eq!(got["rotational"], d.rotational, "{who} {name}");
        assert_eq!(got["model"], d.model.as_ref(), "{who} {name}");
        assert_eq!(got["tran"], d.kind.transport(), "{who} {name}");
        match d.kind {
            DiskKind::Nvme => {
                assert_eq!((&got["vendor"], &got["hctl"], &got["wwn_with_extension"]), (&Value::Null, &Value::Null, &Value::Null), "{who} {name}");
                assert_eq!(got["by_path"], format!("/dev/disk/by-path/pci-{}-nvme-1", d.controller_pci), "{who} {name}");
            }
            _ => {
                assert_eq!(got["vendor"], d.vendor.as_ref(), "{who} {name}");
                assert_eq!(got["hctl"], d.hctl, "{who} {name}");
                assert_eq!(got["wwn_with_extension"], d.wwn, "{who} {name}");
                assert!(got["by_path"].as_str().unwrap().starts_with(&format!("/dev/disk/by-path/pci-{}-", d.controller_pci)), "{who} {name}");
            }
        }
    }
    // Sorted by device number: SCSI disks (8:x) before NVMe (259:x), as the spec lists them.
    let names: Vec<String> = disks.iter().map(|d| d["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, spec.disks.iter().map(|d| format!("/dev/{}", d.name)).collect::<Vec<_>>(), "{who}");

    let ifaces = inv["interfaces"].as_array().unwrap();
    assert_eq!(ifaces.len(), spec.nics.len(), "{who}");
    for n in &spec.nics {
        let got = ifaces.iter().find(|x| x["name"] == n.name.as_ref()).unwrap_or_else(|| panic!("{who}: {} missing", n.name));
        assert_eq!(got["mac_address"], n.mac, "{who} {}", n.name);
        assert_eq!(got["has_carrier"], n.carrier, "{who} {}", n.name);
        assert_eq!(got["speed_mbps"], if n.carrier { json!(n.speed_mbps) } else { Value::Null }, "{who} {}", n.name);
        assert_eq!(got["driver"], n.driver.as_ref(), "{who} {}", n.name);
        assert_eq!(got["pci_address"], n.pci_address.as_ref(), "{who} {}", n.name);
        assert_eq!(got["vendor"], format!("0x{:04x}", n.vendor_id), "{who} {}", n.name);
        assert_eq!(got["product"], format!("0x{:04x}", n.device_id), "{who} {}", n.name);
        match &n.lldp {
            Some(l) => assert_eq!(lldp_neighbour(&got["lldp"]), (l.chassis_mac.clone(), l.port_id.clone(), l.system_name.clone(), l.vlan), "{who} {}", n.name),
            None => assert_eq!(got["lldp"], json!([]), "{who} {}", n.name),
        }
        assert_eq!(c.plugin_data["lldp_raw"][n.name.as_ref()], got["lldp"]);
    }

    let sv = &inv["system_vendor"];
    assert_eq!(sv["manufacturer"], spec.system.vendor.as_ref(), "{who}");
    assert_eq!(sv["serial_number"], spec.system.serial, "{who}");
    assert_eq!(sv["product_name"], spec.product_name_with_sku(), "{who}");
    assert_eq!(sv["firmware"], json!({"vendor": spec.bios.vendor, "version": spec.bios.version, "build_date": spec.bios.date}), "{who}");

    let pxe = format!("01-{}", spec.pxe_mac().replace(':', "-"));
    assert_eq!(inv["boot"], json!({"current_boot_mode": spec.boot_mode.as_str(), "pxe_interface": pxe}), "{who}");
    assert_eq!(inv["hostname"], spec.name, "{who}");
    assert_eq!((&inv["bmc_address"], &inv["bmc_mac"]), (&Value::Null, &Value::Null), "no in-band IPMI under a fixture root");

    // IPA's root disk guess: the smallest disk of 4 GiB or more (ties by name).
    let root = spec.disks.iter().filter(|d| d.size_bytes >= 4 << 30).min_by_key(|d| (d.size_bytes, format!("/dev/{}", d.name))).unwrap();
    assert_eq!(c.plugin_data["root_disk"]["name"], format!("/dev/{}", root.name), "{who}");

    // dmi-decode: the identity, UUID included, and every DIMM slot.
    let dmi = &c.plugin_data["dmi"];
    assert_eq!(dmi["system"]["UUID"], spec.system.uuid, "{who}");
    assert_eq!(dmi["system"]["Serial Number"], spec.system.serial, "{who}");
    assert_eq!(dmi["system"]["SKU Number"], spec.system.sku.as_ref(), "{who}");
    assert_eq!(dmi["system"]["Family"], spec.system.family.as_ref(), "{who}");
    assert_eq!(dmi["baseboard"]["Serial Number"], spec.system.board_serial, "{who}");
    assert_eq!(dmi["chassis"]["Serial Number"], spec.system.serial, "{who}");
    assert_eq!(dmi["bios"]["Version"], spec.bios.version.as_ref(), "{who}");
    assert_eq!(dmi["cpu"].as_array().unwrap().len(), spec.cpu.sockets as usize, "{who}");
    assert_eq!(dmi["cpu"][0]["Version"], spec.cpu.model.as_ref(), "{who}");
    assert_eq!(dmi["cpu"][0]["Core Count"], spec.cpu.cores.to_string(), "{who}");
    assert_eq!(dmi["cpu"][0]["Thread Count"], (spec.cpu.cores * spec.cpu.threads).to_string(), "{who}");
    assert_eq!(dmi["memory"]["Number Of Devices"], spec.dimms.len(), "{who}");
    let devs = dmi["memory"]["devices"].as_array().unwrap();
    assert_eq!(devs.len(), spec.dimms.len(), "{who}");
    for (d, got) in spec.dimms.iter().zip(devs) {
        assert_eq!(got["Locator"], d.locator, "{who}");
        if d.is_empty() {
            assert_eq!(got["Size"], "No Module Installed", "{who} {}", d.locator);
        } else {
            assert_eq!(got["Size"], format!("{} GB", d.size_mib / 1024), "{who} {}", d.locator);
            assert_eq!(got["Serial Number"], d.serial, "{who} {}", d.locator);
            assert_eq!(got["Part Number"], d.part_number.as_ref(), "{who} {}", d.locator);
            assert_eq!(got["Manufacturer"], d.manufacturer.as_ref(), "{who} {}", d.locator);
            assert_eq!(got["Speed"], format!("{} MT/s", d.speed_mts), "{who} {}", d.locator);
        }
    }

    // pci-devices: every PCI function of the spec (NICs included), once.
    let pci: BTreeSet<String> = c.plugin_data["pci_devices"].as_array().unwrap().iter().map(|p| format!("{} {}:{}", p["bus"].as_str().unwrap(), p["vendor_id"].as_str().unwrap(), p["product_id"].as_str().unwrap())).collect();
    let want: BTreeSet<String> = spec
        .pci
        .iter()
        .map(|p| format!("{} {:04x}:{:04x}", p.address, p.vendor_id, p.device_id))
        .chain(spec.nics.iter().map(|n| format!("{} {:04x}:{:04x}", n.pci_address, n.vendor_id, n.device_id)))
        .collect();
    assert_eq!(pci, want, "{who}");

    // numa-topology: a node per socket with its share of memory and its cores.
    let numa = &c.plugin_data["numa_topology"];
    assert_eq!(numa["ram"].as_array().unwrap().len(), spec.cpu.sockets as usize, "{who}");
    let cores = numa["cpus"].as_array().unwrap();
    assert_eq!(cores.len(), (spec.cpu.sockets * spec.cpu.cores) as usize, "{who}");
    assert!(cores.iter().all(|c| c["thread_siblings"].as_array().unwrap().len() == spec.cpu.threads as usize), "{who}");
    assert_eq!(numa["nics"].as_array().unwrap().len(), spec.nics.len(), "{who}");
}

#[test]
fn every_profile_reads_back_as_its_spec() {
    for spec in machines() {
        let dir = scratch();
        let started = Instant::now();
        let sum = write_tree(&spec, dir.path()).unwrap();
        let wrote = started.elapsed();
        let started = Instant::now();
        let c = collect(dir.path(), COLLECTORS);
        println!(
            "{:<22} {:>4} CPUs {:>2} disks: tree {:>4} files {:>4} links {:>4} dirs {:>7} bytes in {:>6.2} ms; collected in {:>7.1} ms",
            spec.name,
            spec.cpu.logical(),
            spec.disks.len(),
            sum.files,
            sum.links,
            sum.dirs,
            sum.bytes,
            wrote.as_secs_f64() * 1e3,
            started.elapsed().as_secs_f64() * 1e3
        );
        check(&spec, &c);
    }
}

#[test]
fn a_custom_command_line_and_no_cpu_topology() {
    let spec = MachineSpec::generate(Profile::Gpu, 2, 1);
    let dir = scratch();
    let opts = TreeOptions { cmdline: Some("ipa-inspection-callback-url=http://192.0.2.1:6385/v1/continue_inspection BOOTIF=01-aa-bb-cc-dd-ee-ff".into()), skip_cpu_topology: true };
    let lean = write_tree_with(&spec, dir.path(), &opts).unwrap();
    let c = collect(dir.path(), &["default", "numa-topology"]);
    assert_eq!(c.inventory["boot"]["pxe_interface"], "01-aa-bb-cc-dd-ee-ff");
    assert!(!c.plugin_data.contains_key("numa_topology"));
    assert_eq!(c.warnings, ["no NUMA information: /sys/devices/system/node is missing"]);
    // Sockets from /proc/cpuinfo instead: the same answer.
    assert_eq!((&c.inventory["cpu"]["count"], &c.inventory["cpu"]["socket_count"]), (&json!(256), &json!(2)));
    let full = write_tree(&spec, scratch().path()).unwrap();
    let ops = |s: ferric_lab::tree::TreeSummary| s.files + s.links + s.dirs;
    println!("gpu tree: {} operations, {} without the CPU topology", ops(full), ops(lean));
    assert!(ops(lean) * 4 < ops(full));
}

#[test]
fn a_fleets_trees_are_all_written() {
    // Two racks' mix; the time per tree is what 10,000 machines cost (each written when it
    // boots, so never all at once).
    let specs = fleet(2 * RACK_SIZE, 9);
    let base = scratch();
    let started = Instant::now();
    let mut files = 0;
    for s in &specs {
        files += write_tree(s, &base.path().join(&s.name)).unwrap().files;
    }
    let per = started.elapsed().as_secs_f64() * 1e3 / specs.len() as f64;
    // Reported, not asserted: speed is the benchmarks' business (`many_trees`, ignored).
    println!("{} trees: {per:.2} ms per tree on average, {} files per tree", specs.len(), files / specs.len());
    assert!(files >= specs.len() * 50, "{files} files for {} trees", specs.len());
    for s in &specs {
        assert!(base.path().join(&s.name).join("proc/cpuinfo").is_file(), "{}", s.name);
    }
}

/// Write and remove each of `n` machines' trees (a tree lives while its machine runs the
/// agent); milliseconds per tree written, per tree removed.
fn write_and_remove(n: usize, opts: &TreeOptions) -> (f64, f64) {
    let specs = fleet(n, 1);
    let base = scratch();
    let (mut write, mut remove) = (0f64, 0f64);
    for s in &specs {
        let dir = base.path().join(&s.name);
        let t = Instant::now();
        write_tree_with(s, &dir, opts).unwrap();
        write += t.elapsed().as_secs_f64();
        let t = Instant::now();
        std::fs::remove_dir_all(&dir).unwrap();
        remove += t.elapsed().as_secs_f64();
    }
    (write * 1e3 / n as f64, remove * 1e3 / n as f64)
}

/// `TREES=10000 cargo test -p ferric-lab --test tree -- --ignored --nocapture` (on /dev/shm;
/// `TMPDIR=/tmp` to measure the disk instead)
#[test]
#[ignore = "a measurement: writes and removes TREES (default 10,000) trees one after the other"]
fn many_trees() {
    let n: usize = std::env::var("TREES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let started = Instant::now();
    let _ = fleet(n, 1);
    println!("{n} specs in {:?}", started.elapsed());
    for (what, opts) in [("full", TreeOptions::default()), ("without CPU topology", TreeOptions { skip_cpu_topology: true, ..Default::default() })] {
        let started = Instant::now();
        let (w, r) = write_and_remove(n, &opts);
        println!("{n} trees ({what}): {w:.2} ms per tree written, {r:.2} ms removed; {:?} in all", started.elapsed());
    }
}
