//! A simulated machine's state, shared by its BMC and the rest of the lab: power, the boot
//! override, how many times it booted. What the hardware does, the lab hears as [`LabEvent`]s
//! on one channel: a boot (from the network or a local device) and a power-off.
//!
//! As a real machine:
//! - a power change takes [`PowerDelay`] (picked per change in its range; zero applies it
//!   before the BMC answers); meanwhile the BMC reports `PoweringOn` / `PoweringOff`, and a
//!   restart keeps reporting `On`. A newer request replaces one still in progress.
//! - every boot (power on, restart) boots the effective device: the override target when
//!   `BootSourceOverrideEnabled` is `Once` or `Continuous` and the target is not `None`, else
//!   the boot order's first entry, the local disk (`Hdd`). A `Once` override is consumed by
//!   that boot (it reads `Disabled` afterwards).
//! - booting `Pxe` or `UefiHttp` is [`LabEvent::NetBoot`] with the PXE NIC's MAC (the first
//!   NIC); anything else is [`LabEvent::LocalBoot`]. Powering off is [`LabEvent::PowerOff`];
//!   a restart is [`LabEvent::Reset`] followed by the boot: either way, whatever ran on the
//!   machine stops (a QEMU VM is reset in place, [`crate::qemu`]).

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use crate::profiles::MachineSpec;

/// What a simulated machine's hardware did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabEvent {
    /// The machine booted from the network (`Pxe` or `UefiHttp`) on its PXE NIC.
    NetBoot { machine: usize, mac: String },
    /// The machine booted from a local device (`Hdd`, `Cd`, `BiosSetup`, `Usb`).
    LocalBoot { machine: usize, device: BootTarget },
    /// The machine powered off.
    PowerOff { machine: usize },
    /// The machine was reset while on (a restart): the boot event that follows is its boot.
    Reset { machine: usize },
}

/// Redfish `PowerState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerState {
    On,
    Off,
    PoweringOn,
    PoweringOff,
}

impl PowerState {
    pub fn as_str(self) -> &'static str {
        match self {
            PowerState::On => "On",
            PowerState::Off => "Off",
            PowerState::PoweringOn => "PoweringOn",
            PowerState::PoweringOff => "PoweringOff",
        }
    }
}

/// Redfish `BootSourceOverrideTarget` (the values the lab's BMCs offer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootTarget {
    None,
    Pxe,
    Hdd,
    Cd,
    Usb,
    BiosSetup,
    UefiHttp,
}

impl BootTarget {
    pub const ALL: [BootTarget; 7] = [BootTarget::None, BootTarget::Pxe, BootTarget::Hdd, BootTarget::Cd, BootTarget::Usb, BootTarget::BiosSetup, BootTarget::UefiHttp];

    pub fn as_str(self) -> &'static str {
        match self {
            BootTarget::None => "None",
            BootTarget::Pxe => "Pxe",
            BootTarget::Hdd => "Hdd",
            BootTarget::Cd => "Cd",
            BootTarget::Usb => "Usb",
            BootTarget::BiosSetup => "BiosSetup",
            BootTarget::UefiHttp => "UefiHttp",
        }
    }

    pub fn parse(s: &str) -> Option<BootTarget> {
        BootTarget::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Booting it loads something from the network.
    pub fn is_network(self) -> bool {
        matches!(self, BootTarget::Pxe | BootTarget::UefiHttp)
    }
}

/// Redfish `BootSourceOverrideEnabled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootEnabled {
    Disabled,
    Once,
    Continuous,
}

impl BootEnabled {
    pub const ALL: [BootEnabled; 3] = [BootEnabled::Disabled, BootEnabled::Once, BootEnabled::Continuous];

    pub fn as_str(self) -> &'static str {
        match self {
            BootEnabled::Disabled => "Disabled",
            BootEnabled::Once => "Once",
            BootEnabled::Continuous => "Continuous",
        }
    }

    pub fn parse(s: &str) -> Option<BootEnabled> {
        BootEnabled::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// Redfish `BootSourceOverrideMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirmwareMode {
    Uefi,
    Legacy,
}

impl FirmwareMode {
    pub fn as_str(self) -> &'static str {
        match self {
            FirmwareMode::Uefi => "UEFI",
            FirmwareMode::Legacy => "Legacy",
        }
    }

    pub fn parse(s: &str) -> Option<FirmwareMode> {
        match s {
            "UEFI" => Some(FirmwareMode::Uefi),
            "Legacy" => Some(FirmwareMode::Legacy),
            _ => None,
        }
    }
}

/// The boot override as the BMC holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootOverride {
    pub target: BootTarget,
    pub enabled: BootEnabled,
    pub mode: FirmwareMode,
}

/// How long a power change takes: a duration picked in `min..=max` for each change (the same
/// sequence for the same machine every run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PowerDelay {
    pub min: Duration,
    pub max: Duration,
}

impl PowerDelay {
    /// Applied before the BMC answers (benchmarks, most tests).
    pub const ZERO: PowerDelay = PowerDelay { min: Duration::ZERO, max: Duration::ZERO };

    /// 0.5 to 2 s, as a BMC that really switches a power supply.
    pub const REALISTIC: PowerDelay = PowerDelay { min: Duration::from_millis(500), max: Duration::from_millis(2000) };

    pub fn fixed(d: Duration) -> PowerDelay {
        PowerDelay { min: d, max: d }
    }

    fn pick(&self, machine: usize, seq: u64) -> Duration {
        if self.max <= self.min {
            return self.min;
        }
        let span = (self.max - self.min).as_micros() as u64;
        let mut z = (machine as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seq.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z ^= z >> 31;
        z = z.wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 29;
        self.min + Duration::from_micros(z % (span + 1))
    }
}

impl Default for PowerDelay {
    fn default() -> Self {
        PowerDelay::REALISTIC
    }
}

/// The power transitions a request can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transition {
    PowerOn,
    PowerOff,
    Restart,
}

/// Redfish `ResetType`s the lab's BMCs take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetType {
    On,
    ForceOff,
    GracefulShutdown,
    GracefulRestart,
    ForceRestart,
    PushPowerButton,
}

impl ResetType {
    pub const ALL: [ResetType; 6] =
        [ResetType::On, ResetType::ForceOff, ResetType::GracefulShutdown, ResetType::GracefulRestart, ResetType::ForceRestart, ResetType::PushPowerButton];

    pub fn as_str(self) -> &'static str {
        match self {
            ResetType::On => "On",
            ResetType::ForceOff => "ForceOff",
            ResetType::GracefulShutdown => "GracefulShutdown",
            ResetType::GracefulRestart => "GracefulRestart",
            ResetType::ForceRestart => "ForceRestart",
            ResetType::PushPowerButton => "PushPowerButton",
        }
    }

    pub fn parse(s: &str) -> Option<ResetType> {
        ResetType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

#[derive(Debug)]
struct State {
    /// What the hardware is (transitions in progress not applied yet).
    on: bool,
    pending: Option<(Transition, u64)>,
    boot: BootOverride,
    secure_boot: bool,
    boots: u64,
    /// Bumped by every change: part of the ETags.
    generation: u64,
    seq: u64,
}

/// One simulated machine: its spec and its state. Shared (`Arc`) by its BMC and the lab.
#[derive(Debug)]
pub struct Machine {
    /// The position in the lab (what [`LabEvent`]s name).
    pub index: usize,
    pub spec: MachineSpec,
    delay: PowerDelay,
    state: Mutex<State>,
    events: UnboundedSender<LabEvent>,
}

impl Machine {
    /// A machine that is off, with no boot override, in its spec's boot mode.
    pub fn new(index: usize, spec: MachineSpec, delay: PowerDelay, events: UnboundedSender<LabEvent>) -> Machine {
        let mode = match spec.boot_mode {
            crate::profiles::BootMode::Uefi => FirmwareMode::Uefi,
            crate::profiles::BootMode::Bios => FirmwareMode::Legacy,
        };
        let state = State {
            on: false,
            pending: None,
            boot: BootOverride { target: BootTarget::None, enabled: BootEnabled::Disabled, mode },
            secure_boot: false,
            boots: 0,
            generation: 1,
            seq: 0,
        };
        Machine { index, spec, delay, state: Mutex::new(state), events }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the BMC reports.
    pub fn power_state(&self) -> PowerState {
        let s = self.lock();
        match s.pending {
            Some((Transition::PowerOn, _)) => PowerState::PoweringOn,
            Some((Transition::PowerOff, _)) => PowerState::PoweringOff,
            Some((Transition::Restart, _)) => PowerState::On,
            None if s.on => PowerState::On,
            None => PowerState::Off,
        }
    }

    /// The hardware is powered (a change in progress not counted).
    pub fn is_on(&self) -> bool {
        self.lock().on
    }

    pub fn boot_override(&self) -> BootOverride {
        self.lock().boot
    }

    /// What the next boot boots.
    pub fn effective_boot_device(&self) -> BootTarget {
        effective(&self.lock().boot)
    }

    /// How many times the machine booted.
    pub fn boots(&self) -> u64 {
        self.lock().boots
    }

    pub fn secure_boot(&self) -> bool {
        self.lock().secure_boot
    }

    /// Bumped by every change of power, boot settings or secure boot.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Change the boot override (the BMC validated it).
    pub fn set_boot_override(&self, boot: BootOverride) {
        let mut s = self.lock();
        if s.boot != boot {
            s.boot = boot;
            s.generation += 1;
        }
    }

    pub fn set_secure_boot(&self, on: bool) {
        let mut s = self.lock();
        if s.secure_boot != on {
            s.secure_boot = on;
            s.generation += 1;
        }
    }

    /// A reset request through the BMC. Returns at once; the change takes the power delay
    /// (with no delay it is applied, and its events sent, before this returns; with one, it
    /// runs on the Tokio runtime this is called from).
    pub fn reset(self: &std::sync::Arc<Self>, kind: ResetType) {
        let mut s = self.lock();
        let effective_on = match s.pending {
            Some((Transition::PowerOn | Transition::Restart, _)) => true,
            Some((Transition::PowerOff, _)) => false,
            None => s.on,
        };
        let transition = match kind {
            ResetType::On => (!effective_on).then_some(Transition::PowerOn),
            ResetType::ForceOff | ResetType::GracefulShutdown => effective_on.then_some(Transition::PowerOff),
            ResetType::ForceRestart | ResetType::GracefulRestart if effective_on => Some(Transition::Restart),
            ResetType::ForceRestart | ResetType::GracefulRestart => Some(Transition::PowerOn),
            ResetType::PushPowerButton if effective_on => Some(Transition::PowerOff),
            ResetType::PushPowerButton => Some(Transition::PowerOn),
        };
        let Some(mut t) = transition else { return };
        // Undoing a change still in progress: nothing happens to the hardware.
        if (t == Transition::PowerOn && s.on) || (t == Transition::PowerOff && !s.on) {
            if s.pending.take().is_some() {
                s.generation += 1;
            }
            return;
        }
        // A restart of a machine still coming up is its power-on, started again.
        if t == Transition::Restart && !s.on {
            t = Transition::PowerOn;
        }
        s.seq += 1;
        s.generation += 1;
        let seq = s.seq;
        let delay = self.delay.pick(self.index, seq);
        if delay.is_zero() {
            s.pending = None;
            self.apply(&mut s, t);
            return;
        }
        s.pending = Some((t, seq));
        drop(s);
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let mut s = me.lock();
            if s.pending == Some((t, seq)) {
                s.pending = None;
                s.generation += 1;
                me.apply(&mut s, t);
            }
        });
    }

    /// The operating system powers the machine off (e.g. the agent's `poweroff`): at once,
    /// whatever was in progress.
    pub fn os_power_off(&self) {
        let mut s = self.lock();
        s.pending = None;
        if s.on {
            s.generation += 1;
            self.apply(&mut s, Transition::PowerOff);
        }
    }

    /// The operating system reboots the machine (e.g. the agent's `reboot`): it goes down
    /// and boots its effective boot device at once.
    pub fn os_reboot(&self) {
        let mut s = self.lock();
        s.pending = None;
        if s.on {
            s.generation += 1;
            self.apply(&mut s, Transition::Restart);
        }
    }

    fn apply(&self, s: &mut State, t: Transition) {
        match t {
            Transition::PowerOff => {
                s.on = false;
                self.send(LabEvent::PowerOff { machine: self.index });
            }
            Transition::Restart => {
                self.send(LabEvent::Reset { machine: self.index });
                self.boot(s);
            }
            Transition::PowerOn => {
                s.on = true;
                self.boot(s);
            }
        }
    }

    fn boot(&self, s: &mut State) {
        s.boots += 1;
        let device = effective(&s.boot);
        if s.boot.enabled == BootEnabled::Once {
            s.boot.enabled = BootEnabled::Disabled;
        }
        let e = if device.is_network() {
            LabEvent::NetBoot { machine: self.index, mac: self.spec.pxe_mac().to_string() }
        } else {
            LabEvent::LocalBoot { machine: self.index, device }
        };
        self.send(e);
    }

    fn send(&self, e: LabEvent) {
        tracing::debug!(machine = %self.spec.name, event = ?e, "lab event");
        // Nobody listening is fine: the lab may run without a host model.
        let _ = self.events.send(e);
    }
}

fn effective(b: &BootOverride) -> BootTarget {
    if b.enabled != BootEnabled::Disabled && b.target != BootTarget::None {
        b.target
    } else {
        BootTarget::Hdd
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::{MachineSpec, Profile};
    use std::sync::Arc;

    fn machine(delay: PowerDelay) -> (Arc<Machine>, tokio::sync::mpsc::UnboundedReceiver<LabEvent>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (Arc::new(Machine::new(3, MachineSpec::generate(Profile::Edge, 3, 0), delay, tx)), rx)
    }

    fn drain(rx: &mut tokio::sync::mpsc::UnboundedReceiver<LabEvent>) -> Vec<LabEvent> {
        let mut v = Vec::new();
        while let Ok(e) = rx.try_recv() {
            v.push(e);
        }
        v
    }

    #[tokio::test]
    async fn once_is_consumed_by_the_boot_continuous_stays() {
        let (m, mut rx) = machine(PowerDelay::ZERO);
        let mac = m.spec.pxe_mac().to_string();
        m.set_boot_override(BootOverride { target: BootTarget::Pxe, enabled: BootEnabled::Once, mode: FirmwareMode::Legacy });
        m.reset(ResetType::On);
        assert_eq!(m.power_state(), PowerState::On);
        assert_eq!(drain(&mut rx), [LabEvent::NetBoot { machine: 3, mac: mac.clone() }]);
        assert_eq!(m.boot_override().enabled, BootEnabled::Disabled);
        m.reset(ResetType::ForceRestart);
        assert_eq!(drain(&mut rx), [LabEvent::Reset { machine: 3 }, LabEvent::LocalBoot { machine: 3, device: BootTarget::Hdd }]);
        m.set_boot_override(BootOverride { target: BootTarget::Pxe, enabled: BootEnabled::Continuous, mode: FirmwareMode::Legacy });
        m.reset(ResetType::GracefulRestart);
        m.os_reboot();
        assert_eq!(drain(&mut rx).iter().filter(|e| matches!(e, LabEvent::NetBoot { .. })).count(), 2);
        assert_eq!(m.boot_override().enabled, BootEnabled::Continuous);
        assert_eq!(m.boots(), 4);
        m.reset(ResetType::On);
        assert!(drain(&mut rx).is_empty(), "On when on does nothing");
        m.reset(ResetType::PushPowerButton);
        assert_eq!((m.power_state(), drain(&mut rx)), (PowerState::Off, vec![LabEvent::PowerOff { machine: 3 }]));
        m.reset(ResetType::GracefulShutdown);
        assert!(drain(&mut rx).is_empty());
    }

    #[tokio::test]
    async fn power_changes_take_the_delay_and_a_newer_request_wins() {
        let ms = Duration::from_millis;
        let (m, mut rx) = machine(PowerDelay::fixed(ms(200)));
        m.reset(ResetType::On);
        assert_eq!(m.power_state(), PowerState::PoweringOn);
        assert!(!m.is_on());
        tokio::time::sleep(ms(300)).await;
        assert_eq!(m.power_state(), PowerState::On);
        assert_eq!(drain(&mut rx).len(), 1);
        // Off, then On before the off happened: the machine never went down.
        m.reset(ResetType::ForceOff);
        assert_eq!(m.power_state(), PowerState::PoweringOff);
        m.reset(ResetType::On);
        assert_eq!(m.power_state(), PowerState::On);
        tokio::time::sleep(ms(300)).await;
        assert!(drain(&mut rx).is_empty());
        assert_eq!(m.boots(), 1);
        // A restart reads On throughout.
        m.reset(ResetType::ForceRestart);
        assert_eq!(m.power_state(), PowerState::On);
        tokio::time::sleep(ms(300)).await;
        assert_eq!(drain(&mut rx).len(), 2);
        assert_eq!(m.boots(), 2);
    }

    #[test]
    fn delays_stay_in_their_range() {
        let d = PowerDelay::REALISTIC;
        let picks: Vec<Duration> = (0..1000).map(|i| d.pick(i % 7, i as u64)).collect();
        assert!(picks.iter().all(|p| *p >= d.min && *p <= d.max));
        assert!(picks.iter().any(|p| *p < Duration::from_millis(800)) && picks.iter().any(|p| *p > Duration::from_millis(1700)));
        assert_eq!(PowerDelay::ZERO.pick(5, 5), Duration::ZERO);
    }
}
