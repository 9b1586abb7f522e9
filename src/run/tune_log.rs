//! `tune.jsonl`, the search's own record in the run folder: one
//! `search_started` line, then every decision of the search as it is made
//! and a `probe_measured` line with each probe's observation, then one
//! `result` line. Each line is synced as it is written. A resumed search
//! reads the `probe_measured` lines back and replays them (the search is
//! deterministic), so it goes on where it stopped without measuring again.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::durable::LineFile;
use crate::tune::log::Decision;
use crate::tune::observation::Observation;
use crate::tune::search::{Probe, TuneResult};

/// The file's name in the run folder.
pub const TUNE_FILE: &str = "tune.jsonl";

/// A probe measured before a resume, as `probe_measured` recorded it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Measured {
    pub probe: u64,
    pub config: usize,
    pub load_index: usize,
    pub requests: u64,
    pub observation: Observation,
}

impl Measured {
    /// Whether this is the measurement of `p` (the same probe of the same
    /// search).
    pub fn answers(&self, p: &Probe) -> bool {
        self.probe == p.id
            && self.config == p.config
            && self.load_index == p.load_index
            && self.requests == p.requests
    }
}

/// The open `tune.jsonl`.
pub struct TuneLog {
    file: LineFile,
}

impl TuneLog {
    /// A new file in `run_dir` (refused when one is there).
    pub fn create(run_dir: &Path) -> std::io::Result<TuneLog> {
        Ok(TuneLog {
            file: LineFile::create_new(&run_dir.join(TUNE_FILE))?,
        })
    }

    /// The file of a resumed search, to append to; a torn last line (a
    /// crash while it was written) is cut first.
    pub fn append(run_dir: &Path) -> std::io::Result<TuneLog> {
        let path = run_dir.join(TUNE_FILE);
        let bytes = std::fs::read(&path)?;
        if !bytes.is_empty() && !bytes.ends_with(b"\n") {
            let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let f = std::fs::OpenOptions::new().write(true).open(&path)?;
            f.set_len(whole as u64)?;
            f.sync_all()?;
        }
        Ok(TuneLog {
            file: LineFile::append(&path)?,
        })
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    fn line(&mut self, v: &Value) -> anyhow::Result<()> {
        let mut out = Vec::new();
        crate::durable::push_json_line(&mut out, v)?;
        self.file
            .append_synced(&out)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", self.file.path().display()))
    }

    /// The first line (and the first after a resume): what is searched.
    pub fn started(&mut self, fields: Value) -> anyhow::Result<()> {
        let mut v = json!({"decision": "search_started"});
        merge(&mut v, fields);
        self.line(&v)
    }

    /// The search's decisions, in order.
    pub fn decisions(&mut self, ds: &[Decision]) -> anyhow::Result<()> {
        if ds.is_empty() {
            return Ok(());
        }
        let mut out = Vec::new();
        for d in ds {
            out.extend_from_slice(d.to_json_line().as_bytes());
            out.push(b'\n');
        }
        self.file
            .append_synced(&out)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", self.file.path().display()))
    }

    /// What `probe` measured (plan point `point`, 1-based).
    pub fn measured(
        &mut self,
        probe: &Probe,
        point: usize,
        obs: &Observation,
    ) -> anyhow::Result<()> {
        self.line(&json!({
            "decision": "probe_measured",
            "probe": probe.id,
            "config": probe.config,
            "label": probe.label,
            "load_index": probe.load_index,
            "load": probe.load,
            "requests": probe.requests,
            "point": point,
            "observation": obs,
        }))
    }

    /// The last line: what the search found, and its wall time.
    pub fn result(&mut self, r: &TuneResult, wall_s: f64) -> anyhow::Result<()> {
        let mut v = json!({"decision": "result", "wall_s": wall_s});
        merge(&mut v, serde_json::to_value(r)?);
        self.line(&v)
    }
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), from) {
        a.extend(b);
    }
}

/// The probes `tune.jsonl` in `run_dir` says were measured, in order; a
/// line that does not read (a torn last line) ends the list.
pub fn read_measured(run_dir: &Path) -> std::io::Result<Vec<Measured>> {
    let text = std::fs::read_to_string(run_dir.join(TUNE_FILE))?;
    let mut out = Vec::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            break;
        };
        if v["decision"] != "probe_measured" {
            continue;
        }
        match serde_json::from_value::<Measured>(v) {
            Ok(m) => out.push(m),
            Err(_) => break,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tune::knee::ProbeWhy;
    use crate::tune::observation::Estimate;

    fn probe(id: u64) -> Probe {
        Probe {
            id,
            config: 1,
            label: "a".into(),
            load_index: 2,
            load: 4.0,
            requests: 24,
            round: 0,
            why: ProbeWhy::Doubling,
        }
    }

    #[test]
    fn measured_probes_read_back_as_written_until_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = TuneLog::create(dir.path()).unwrap();
        log.started(json!({"objective": "throughput"})).unwrap();
        let obs = Observation::measured(
            [("throughput_tps", Estimate::new(100.0, 90.0, 110.0, 0.95))],
            24,
            1.5,
        );
        log.measured(&probe(1), 3, &obs).unwrap();
        let failed = Observation::errored("every request failed", 24, 0.5);
        log.measured(&probe(2), 4, &failed).unwrap();
        drop(log);
        // a second create is refused: a run folder has one search
        assert!(TuneLog::create(dir.path()).is_err());
        let back = read_measured(dir.path()).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].observation, obs);
        assert_eq!(back[1].observation, failed);
        assert!(back[0].answers(&probe(1)));
        assert!(!back[0].answers(&probe(2)));
        let mut other = probe(1);
        other.requests = 72;
        assert!(!back[0].answers(&other));
        // a torn last line is not read
        let path = dir.path().join(TUNE_FILE);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"decision\":\"probe_measured\",\"probe\":3,");
        std::fs::write(&path, text).unwrap();
        assert_eq!(read_measured(dir.path()).unwrap().len(), 2);
        // and is cut before a resumed search appends
        let mut log = TuneLog::append(dir.path()).unwrap();
        log.measured(&probe(3), 5, &obs).unwrap();
        let back = read_measured(dir.path()).unwrap();
        assert_eq!(back.iter().map(|m| m.probe).collect::<Vec<_>>(), [1, 2, 3]);
    }
}
