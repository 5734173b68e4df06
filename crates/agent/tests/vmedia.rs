//! Parameters from virtual media (`boot_method=vmedia`): the device found by label or by sysfs
//! model, checked with lsblk as IPA does, mounted, `parameters.txt` read and merged over the
//! kernel command line. The tools are scripted; `mount` copies fixtures/vmedia/media into the
//! mount point, so the file really is read from where the agent mounted the device.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ferric_agent::config::parse_kernel_params;
use ferric_agent::tools::{ToolError, Tools};
use ferric_agent::vmedia::{check_vmedia_device, merge_vmedia_params, vmedia_params};

fn fixture(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vmedia").join(p)
}

/// Answers lsblk from a table; `mount DEV DIR` copies the fixture media into DIR (or fails
/// when `mount_fails`); records every command line, the mount point shown as `<mnt>`.
struct Fake {
    lsblk_labels: &'static str,
    lsblk_dev: BTreeMap<&'static str, &'static str>,
    mount_fails: bool,
    ran: Mutex<Vec<String>>,
    mnt: Mutex<Option<String>>,
}

impl Fake {
    fn new(labels: &'static str, devs: &[(&'static str, &'static str)]) -> Fake {
        Fake { lsblk_labels: labels, lsblk_dev: devs.iter().cloned().collect(), mount_fails: false, ran: Mutex::new(Vec::new()), mnt: Mutex::new(None) }
    }
    fn ran(&self) -> Vec<String> {
        self.ran.lock().unwrap().clone()
    }
}

impl Tools for Fake {
    fn run(&self, argv: &[&str]) -> Result<String, ToolError> {
        let mnt = self.mnt.lock().unwrap().clone();
        let line = argv.iter().map(|a| if Some(a.to_string()) == mnt { "<mnt>" } else { a }).collect::<Vec<_>>().join(" ");
        match argv {
            ["lsblk", "-p", "-P", "-oKNAME,LABEL"] => {
                self.ran.lock().unwrap().push(line);
                Ok(self.lsblk_labels.to_string())
            }
            ["lsblk", "-n", "-s", "-P", "-b", "-oKNAME,TRAN,TYPE,SIZE", dev] => {
                self.ran.lock().unwrap().push(line);
                self.lsblk_dev.get(dev).map(|s| s.to_string()).ok_or(ToolError::Failed { code: Some(32), message: format!("lsblk: {dev}: not a block device") })
            }
            ["mount", dev, dir] => {
                assert!(dev.starts_with("/dev/"));
                let d = Path::new(dir);
                assert!(d.is_dir() && std::fs::read_dir(d).unwrap().next().is_none(), "mount point must be an empty directory");
                *self.mnt.lock().unwrap() = Some(dir.to_string());
                self.ran.lock().unwrap().push(format!("mount {dev} <mnt>"));
                if self.mount_fails {
                    return Err(ToolError::Failed { code: Some(32), message: "mount: wrong fs type".into() });
                }
                for e in std::fs::read_dir(fixture("media")).unwrap() {
                    let e = e.unwrap();
                    std::fs::copy(e.path(), d.join(e.file_name())).unwrap();
                }
                Ok(String::new())
            }
            ["umount", dir] => {
                self.ran.lock().unwrap().push(line);
                // "Unmount": the mount point is empty again.
                for e in std::fs::read_dir(dir).unwrap() {
                    std::fs::remove_file(e.unwrap().path()).unwrap();
                }
                Ok(String::new())
            }
            _ => panic!("unexpected command {argv:?}"),
        }
    }
}

fn expected_params() -> BTreeMap<String, String> {
    parse_kernel_params(&std::fs::read_to_string(fixture("media/parameters.txt")).unwrap())
}

#[test]
fn by_label_a_partition_is_rejected_and_the_usb_floppy_taken() {
    let f = Fake::new(
        "KNAME=\"/dev/sda\" LABEL=\"\"\nKNAME=\"/dev/sda1\" LABEL=\"ir-vfd-dev\"\nKNAME=\"/dev/sdb\" LABEL=\"IR-VFD-DEV\"\n",
        &[
            ("/dev/sda1", "KNAME=\"sda1\" TRAN=\"\" TYPE=\"part\" SIZE=\"1474560\"\nKNAME=\"sda\" TRAN=\"sata\" TYPE=\"disk\" SIZE=\"500107862016\"\n"),
            ("/dev/sdb", "KNAME=\"sdb\" TRAN=\"usb\" TYPE=\"disk\" SIZE=\"1474560\"\n"),
        ],
    );
    let p = vmedia_params(&f, Path::new("/nonexistent")).unwrap();
    assert_eq!(p, expected_params());
    assert_eq!(p["ipa-api-url"], "http://192.0.2.10:6385");
    assert_eq!(p["ipa-agent-token"], "YmVjYXVzZS1pdC1pcy1hLXRlc3Q");
    assert_eq!(p.len(), 5);
    assert_eq!(
        f.ran(),
        [
            "lsblk -p -P -oKNAME,LABEL",
            "lsblk -n -s -P -b -oKNAME,TRAN,TYPE,SIZE /dev/sda1",
            "lsblk -n -s -P -b -oKNAME,TRAN,TYPE,SIZE /dev/sdb",
            "mount /dev/sdb <mnt>",
            "umount <mnt>",
        ]
    );
    // The temporary mount point is gone.
    assert!(!Path::new(&f.mnt.lock().unwrap().clone().unwrap()).exists());
}

#[test]
fn by_sysfs_model_when_no_label_matches() {
    let f = Fake::new("KNAME=\"/dev/sda\" LABEL=\"\"\n", &[("/dev/sr0", "KNAME=\"sr0\" TRAN=\"sata\" TYPE=\"rom\" SIZE=\"1474560\"\n")]);
    assert_eq!(vmedia_params(&f, &fixture("root")).unwrap(), expected_params());
    assert_eq!(f.ran(), ["lsblk -p -P -oKNAME,LABEL", "lsblk -n -s -P -b -oKNAME,TRAN,TYPE,SIZE /dev/sr0", "mount /dev/sr0 <mnt>", "umount <mnt>"]);
}

#[test]
fn no_device_no_parameters_and_nothing_mounted() {
    let f = Fake::new("KNAME=\"/dev/sda\" LABEL=\"\"\n", &[]);
    assert_eq!(vmedia_params(&f, Path::new("/nonexistent")).unwrap(), BTreeMap::new());
    assert_eq!(f.ran(), ["lsblk -p -P -oKNAME,LABEL"]);
    // A USB disk of 4 GiB or more, or a plain SATA disk, is no virtual media.
    let f = Fake::new(
        "",
        &[
            ("/dev/sdc", "KNAME=\"sdc\" TRAN=\"usb\" TYPE=\"disk\" SIZE=\"4294967296\"\n"),
            ("/dev/sdd", "KNAME=\"sdd\" TRAN=\"sata\" TYPE=\"disk\" SIZE=\"1474560\"\n"),
            ("/dev/sde", "KNAME=\"sde\" TRAN=\"usb\" TYPE=\"disk\" SIZE=\"4294967295\"\n"),
        ],
    );
    assert!(!check_vmedia_device(&f, "/dev/sdc"));
    assert!(!check_vmedia_device(&f, "/dev/sdd"));
    assert!(check_vmedia_device(&f, "/dev/sde"));
    assert!(!check_vmedia_device(&f, "/dev/missing"));
}

#[test]
fn merged_over_the_command_line_only_when_booted_from_vmedia() {
    let cmdline = "BOOT_IMAGE=/vmlinuz boot_method=vmedia ipa-api-url=http://stale:6385 BOOTIF=01-52-54-00-12-34-56";
    let f = Fake::new("KNAME=\"/dev/sdb\" LABEL=\"ir-vfd-dev\"\n", &[("/dev/sdb", "KNAME=\"sdb\" TRAN=\"usb\" TYPE=\"disk\" SIZE=\"1474560\"\n")]);
    let mut p = parse_kernel_params(cmdline);
    merge_vmedia_params(&mut p, &f, Path::new("/nonexistent"));
    assert_eq!(p["ipa-api-url"], "http://192.0.2.10:6385", "the virtual media wins");
    assert_eq!(p["BOOTIF"], "01-52-54-00-12-34-56", "the command line's other parameters stay");
    assert_eq!(p["ipa-debug"], "1");
    assert_eq!(p.len(), 7);
    // The resulting configuration is the agent's.
    let c = ferric_agent::config::Config::from_params(&p).unwrap();
    assert_eq!(c.api_urls, ["http://192.0.2.10:6385"]);
    assert_eq!(c.agent_token.as_deref(), Some("YmVjYXVzZS1pdC1pcy1hLXRlc3Q"));

    // Without boot_method=vmedia nothing is looked for.
    let f = Fake::new("", &[]);
    let mut p = parse_kernel_params("ipa-api-url=http://x:6385");
    merge_vmedia_params(&mut p, &f, &fixture("root"));
    assert!(f.ran().is_empty());
    assert_eq!(p.len(), 1);
}

#[test]
fn an_unreadable_device_keeps_the_command_line() {
    let mut f = Fake::new("KNAME=\"/dev/sdb\" LABEL=\"ir-vfd-dev\"\n", &[("/dev/sdb", "KNAME=\"sdb\" TRAN=\"usb\" TYPE=\"disk\" SIZE=\"1474560\"\n")]);
    f.mount_fails = true;
    let e = vmedia_params(&f, Path::new("/nonexistent")).unwrap_err();
    assert!(e.contains("mounting virtual media /dev/sdb"), "{e}");
    let mut p = parse_kernel_params("boot_method=vmedia ipa-api-url=http://x:6385");
    merge_vmedia_params(&mut p, &f, Path::new("/nonexistent"));
    assert_eq!(p["ipa-api-url"], "http://x:6385");
    assert!(!f.ran().iter().any(|l| l.starts_with("umount")), "nothing to unmount: {:?}", f.ran());
}
