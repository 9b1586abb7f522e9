//! Linux CPU energy from RAPL under `/sys/class/powercap`: each package
//! zone (`intel-rapl:N`, named `package-N`) and each DRAM subzone
//! (`intel-rapl:N:M` named `dram`, outside the package's count), read as
//! µJ counters that wrap at `max_energy_range_uj`. The `core`, `uncore`
//! and `psys` zones are left out: they overlap the package (or, `psys`,
//! everything), so adding them would count energy twice. Since Linux 5.10
//! `energy_uj` is readable by root only on most systems: then there is no
//! device and [`open`]'s error says so.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::energy::{Counter, DeviceKind, PowerDevice, PowerSource};

/// Where the kernel lists power-capping zones.
pub const POWERCAP: &str = "/sys/class/powercap";

/// One zone read.
#[derive(Debug)]
struct Zone {
    name: String,
    kind: DeviceKind,
    energy_uj: PathBuf,
    counter: Counter,
    /// When the counter was last read, and its count then (µJ).
    last: Option<(Instant, u64)>,
}

/// The RAPL zones of this machine, each with its counter.
#[derive(Debug)]
pub struct Rapl {
    zones: Vec<Zone>,
}

fn read_trimmed(p: &Path) -> Result<String, String> {
    std::fs::read_to_string(p)
        .map(|s| s.trim().to_string())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::PermissionDenied => {
                format!("{}: permission denied (root only)", p.display())
            }
            _ => format!("{}: {e}", p.display()),
        })
}

fn read_u64(p: &Path) -> Result<u64, String> {
    let text = read_trimmed(p)?;
    text.parse()
        .map_err(|_| format!("{}: not a count: {text:?}", p.display()))
}

/// `intel-rapl:N` → (N, None); `intel-rapl:N:M` → (N, Some(M)).
fn zone_ids(dir_name: &str) -> Option<(u32, Option<u32>)> {
    let rest = dir_name.strip_prefix("intel-rapl:")?;
    let mut parts = rest.split(':');
    let package = parts.next()?.parse().ok()?;
    let sub = match parts.next() {
        Some(m) => Some(m.parse().ok()?),
        None => None,
    };
    parts.next().is_none().then_some((package, sub))
}

/// Open the RAPL zones under `root` (normally [`POWERCAP`]) whose
/// counters can be read; the error says why there are none.
pub fn open(root: &Path) -> Result<Rapl, String> {
    let entries = std::fs::read_dir(root).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("no powercap ({} absent)", root.display()),
        _ => format!("{}: {e}", root.display()),
    })?;
    let mut dirs: Vec<(String, u32, Option<u32>)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let (p, s) = zone_ids(&name)?;
            Some((name, p, s))
        })
        .collect();
    dirs.sort_by_key(|(_, p, s)| (*p, *s));
    if dirs.is_empty() {
        return Err(format!("no RAPL zones under {}", root.display()));
    }
    let mut zones = Vec::new();
    let mut unreadable = Vec::new();
    for (dir, package, sub) in dirs {
        let dir = root.join(dir);
        let Ok(zone_name) = read_trimmed(&dir.join("name")) else {
            continue;
        };
        let (name, kind) = match (sub, zone_name.as_str()) {
            (None, n) if n.starts_with("package") => (n.to_string(), DeviceKind::Package),
            (Some(_), "dram") => (format!("dram-{package}"), DeviceKind::Dram),
            _ => continue,
        };
        let energy_uj = dir.join("energy_uj");
        match read_u64(&energy_uj) {
            Ok(_) => zones.push(Zone {
                name,
                kind,
                counter: Counter::new(read_u64(&dir.join("max_energy_range_uj")).ok()),
                energy_uj,
                last: None,
            }),
            Err(why) => unreadable.push(why),
        }
    }
    match (zones.is_empty(), unreadable.first()) {
        (false, _) => Ok(Rapl { zones }),
        (true, Some(why)) => Err(why.clone()),
        (true, None) => Err(format!("no package or DRAM zone under {}", root.display())),
    }
}

impl Rapl {
    /// `rapl: package-0, dram-0 (core, uncore and psys left out: they overlap)`.
    pub fn describe(&self) -> String {
        let names: Vec<&str> = self.zones.iter().map(|z| z.name.as_str()).collect();
        format!(
            "rapl {POWERCAP}: {} (core, uncore and psys left out: they overlap)",
            names.join(", ")
        )
    }

    /// Read every zone at `now`: its joules since the first reading
    /// (unwrapped) and its mean power since the previous reading; a zone
    /// that cannot be read now has both `null`.
    pub fn read(&mut self, now: Instant) -> Vec<PowerDevice> {
        self.zones
            .iter_mut()
            .map(|z| {
                let count = read_u64(&z.energy_uj)
                    .ok()
                    .and_then(|raw| z.counter.push(raw));
                let power_w = match (count, z.last) {
                    (Some(c), Some((t, prev))) if c >= prev => {
                        let dt = now.saturating_duration_since(t).as_secs_f64();
                        (dt > 0.0).then(|| (c - prev) as f64 / 1e6 / dt)
                    }
                    _ => None,
                };
                z.last = count.map(|c| (now, c));
                PowerDevice {
                    name: z.name.clone(),
                    kind: z.kind,
                    source: PowerSource::Rapl,
                    power_w: power_w.map(|w| super::record::round(w, 3)),
                    energy_j: count.map(|c| c as f64 / 1e6),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn zone(root: &Path, dir: &str, name: &str, energy: &str, range: Option<&str>) {
        let d = root.join(dir);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("name"), format!("{name}\n")).unwrap();
        std::fs::write(d.join("energy_uj"), format!("{energy}\n")).unwrap();
        if let Some(r) = range {
            std::fs::write(d.join("max_energy_range_uj"), format!("{r}\n")).unwrap();
        }
    }

    #[test]
    fn zone_names_are_parsed_strictly() {
        assert_eq!(zone_ids("intel-rapl:0"), Some((0, None)));
        assert_eq!(zone_ids("intel-rapl:1:2"), Some((1, Some(2))));
        assert_eq!(zone_ids("intel-rapl"), None);
        assert_eq!(zone_ids("intel-rapl:x"), None);
        assert_eq!(zone_ids("intel-rapl:0:1:2"), None);
        assert_eq!(zone_ids("intel-rapl-mmio:0"), None);
    }

    #[test]
    fn packages_and_dram_are_read_and_overlapping_zones_left_out() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("intel-rapl")).unwrap();
        zone(
            r,
            "intel-rapl:0",
            "package-0",
            "1000000",
            Some("262143328850"),
        );
        zone(r, "intel-rapl:0:0", "core", "5", None);
        zone(r, "intel-rapl:0:1", "uncore", "5", None);
        zone(r, "intel-rapl:0:2", "dram", "900", Some("1000000"));
        zone(r, "intel-rapl:1", "psys", "5", None);
        let mut rapl = open(r).unwrap();
        assert!(
            rapl.describe().contains("package-0, dram-0"),
            "{}",
            rapl.describe()
        );
        let t0 = Instant::now();
        let first = rapl.read(t0);
        let names: Vec<&str> = first.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["package-0", "dram-0"]);
        assert_eq!(first[0].kind, DeviceKind::Package);
        assert_eq!(first[1].kind, DeviceKind::Dram);
        assert_eq!((first[0].energy_j, first[0].power_w), (Some(0.0), None));
        // 2 J in 0.5 s on the package; the DRAM counter wraps (range 1 J)
        std::fs::write(r.join("intel-rapl:0/energy_uj"), "3000000\n").unwrap();
        std::fs::write(r.join("intel-rapl:0:2/energy_uj"), "99\n").unwrap();
        let second = rapl.read(t0 + Duration::from_millis(500));
        assert_eq!(second[0].energy_j, Some(2.0));
        assert_eq!(second[0].power_w, Some(4.0));
        // 900 → 1000000 → 0 → 99: 999100 + 1 + 99 µJ
        assert_eq!(second[1].energy_j, Some(0.9992));
        assert_eq!(second[1].source, PowerSource::Rapl);
        // a zone that cannot be read now: null, and the next reading goes on
        std::fs::remove_file(r.join("intel-rapl:0/energy_uj")).unwrap();
        let third = rapl.read(t0 + Duration::from_millis(700));
        assert_eq!((third[0].energy_j, third[0].power_w), (None, None));
        std::fs::write(r.join("intel-rapl:0/energy_uj"), "4000000\n").unwrap();
        let fourth = rapl.read(t0 + Duration::from_millis(1000));
        assert_eq!(fourth[0].energy_j, Some(3.0));
    }

    #[test]
    fn no_powercap_or_no_readable_zone_says_why() {
        let t = tempfile::tempdir().unwrap();
        let why = open(&t.path().join("absent")).unwrap_err();
        assert!(why.starts_with("no powercap ("), "{why}");
        let why = open(t.path()).unwrap_err();
        assert!(why.starts_with("no RAPL zones under "), "{why}");
        // a counter that cannot be read (a folder here; root-only on a real machine)
        let d = t.path().join("intel-rapl:0");
        std::fs::create_dir_all(d.join("energy_uj")).unwrap();
        std::fs::write(d.join("name"), "package-0\n").unwrap();
        let why = open(t.path()).unwrap_err();
        assert!(why.contains("intel-rapl:0/energy_uj"), "{why}");
        // garbage in the counter is no panic
        std::fs::remove_dir(d.join("energy_uj")).unwrap();
        std::fs::write(d.join("energy_uj"), "lots\n").unwrap();
        let why = open(t.path()).unwrap_err();
        assert!(why.contains("not a count"), "{why}");
        // only overlapping zones
        std::fs::write(d.join("name"), "psys\n").unwrap();
        std::fs::write(d.join("energy_uj"), "1\n").unwrap();
        let why = open(t.path()).unwrap_err();
        assert!(why.starts_with("no package or DRAM zone"), "{why}");
    }

    #[test]
    fn this_machine_has_rapl_or_says_why_not() {
        match open(Path::new(POWERCAP)) {
            Ok(r) => assert!(r.describe().starts_with("rapl ")),
            Err(why) => assert!(!why.is_empty()),
        }
    }
}
