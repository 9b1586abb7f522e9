//! The exact command line of one server instance: the definition's launch
//! templates, the user's extra arguments (without the flags the matrix owns,
//! so no flag is ever passed twice), the point's axis values and raw flags,
//! and, with several ranks, MLX's `mlx.launch` in front.

use std::path::{Path, PathBuf};

use minijinja::Value;

use crate::backend::flags::{flag_for_key, flag_names, strip_flag};
use crate::backend::registry::Registry;
use crate::backend::template::{self, Vars, value_of};
use crate::remote::host::Host;
use crate::remote::ssh::TAG_VAR;
use crate::scenario::Scenario;
use crate::scenario::expand::{ServerConfig, backend_axes};
use crate::scenario::hosts::{resolve, ssh_of};
use crate::scenario::models::{ResolvedModel, user_args};
use crate::spec::backend::{AxisArg, BackendDef};

/// Where `scripts/setup.sh` puts mlxrun's own Python environment.
pub const DEFAULT_VENV_PYTHON: &str = ".mlxrun/venv/bin/python";

/// The interpreter to use: `backend.python`, else mlxrun's own venv when it
/// exists, else `python3`.
pub fn python_for(s: &Scenario) -> String {
    if !s.backend.python.trim().is_empty() {
        return s.backend.python.clone();
    }
    if Path::new(DEFAULT_VENV_PYTHON).is_file() {
        return DEFAULT_VENV_PYTHON.to_string();
    }
    "python3".to_string()
}

/// The program `{{ bin }}` names: a path as given, else the first
/// `bin_search` folder holding it, else the bare name (looked up in `PATH`).
pub fn resolve_bin(def: &BackendDef) -> String {
    if def.bin.is_empty() || def.bin.contains('/') {
        return def.bin.clone();
    }
    def.bin_search
        .iter()
        .map(|d| PathBuf::from(d).join(&def.bin))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| def.bin.clone())
}

/// Everything needed to render commands of a run.
#[derive(Debug, Clone)]
pub struct Commands<'a> {
    pub scenario: &'a Scenario,
    pub registry: &'a Registry,
    pub models: &'a [ResolvedModel],
    pub python: String,
    /// The run's folder (mlx.launch hostfiles are written there).
    pub run_dir: PathBuf,
    /// The run's tag: every process started on another host carries it
    /// in `MLXRUN_TAG` (with the configuration and instance appended).
    pub run_tag: String,
}

/// The hostfile mlx.launch reads for configuration `cfg_index` (1-based in
/// the name), in the run folder.
pub fn hostfile_path(run_dir: &Path, cfg_index: usize) -> PathBuf {
    run_dir
        .join("hostfiles")
        .join(format!("config-{}.json", cfg_index + 1))
}

/// The hostfile (MLX's JSON format) of a rank host set: each host
/// `ranks` times in rank order, reached by its ssh destination, its
/// address as the IP the ranks connect on.
pub fn hostfile_json(hosts: &[Host], ranks: u32, backend: &str) -> serde_json::Value {
    let entries: Vec<serde_json::Value> = hosts
        .iter()
        .flat_map(|h| std::iter::repeat_n(h, ranks.max(1) as usize))
        .map(|h| serde_json::json!({ "ssh": h.ssh, "ips": [h.address] }))
        .collect();
    serde_json::json!({ "backend": backend, "hosts": entries })
}

/// Flags the matrix sets for a model served by `def`: its swept axes given
/// as flags, and the raw `server_flags`.
pub fn matrix_flags(s: &Scenario, def: &BackendDef) -> Vec<String> {
    let mut f: Vec<String> = backend_axes(s)
        .into_iter()
        .filter_map(|(name, _)| match def.axes.get(&name) {
            Some(AxisArg::Flag(flag)) => Some(flag.clone()),
            _ => None,
        })
        .collect();
    f.extend(s.matrix.server_flags.keys().map(|k| flag_for_key(k)));
    f
}

/// `flag value` (or just `flag`, or nothing) for one axis value.
fn flag_args(flag: &str, value: &str) -> Vec<String> {
    match value {
        "true" => vec![flag.to_string()],
        "false" | "default" => Vec::new(),
        v => vec![flag.to_string(), v.to_string()],
    }
}

impl Commands<'_> {
    pub fn model(&self, cfg: &ServerConfig) -> Option<&ResolvedModel> {
        self.models.iter().find(|m| m.index == cfg.model)
    }

    pub fn def(&self, cfg: &ServerConfig) -> Result<&BackendDef, String> {
        self.registry
            .get(&cfg.backend)
            .ok_or_else(|| format!("unknown backend `{}`", cfg.backend))
    }

    /// Template variables of instance `instance` of `cfg` on `port`.
    pub fn vars(&self, cfg: &ServerConfig, instance: u32, port: u16) -> Result<Vars, String> {
        let def = self.def(cfg)?;
        let mut v = Vars::new();
        for name in def.axes.keys() {
            v.insert(name.clone(), Value::from(()));
        }
        for (name, value) in &cfg.axes {
            v.insert(name.clone(), value_of(value));
        }
        v.insert("model".into(), Value::from(cfg.model_arg.as_str()));
        let host = self.host_of(cfg, instance);
        let bind = host
            .as_ref()
            .map_or(self.scenario.backend.host.as_str(), |h| h.address.as_str());
        v.insert("host".into(), Value::from(bind));
        v.insert("port".into(), Value::from(port));
        // mlx.launch runs one command line on every rank host: this Python
        let python = match &host {
            Some(h) if !self.uses_launcher(cfg) && !h.python.is_empty() => h.python.as_str(),
            _ => self.python.as_str(),
        };
        v.insert("python".into(), Value::from(python));
        v.insert("bin".into(), Value::from(resolve_bin(def)));
        v.insert("instance".into(), Value::from(instance));
        v.insert("ranks".into(), Value::from(cfg.ranks));
        Ok(v)
    }

    /// The server's own argv (no launcher) for instance `instance` on `port`.
    pub fn server_argv(
        &self,
        cfg: &ServerConfig,
        instance: u32,
        port: u16,
    ) -> Result<Vec<String>, String> {
        let def = self.def(cfg)?;
        let vars = self.vars(cfg, instance, port)?;
        let mut argv = def
            .launch
            .iter()
            .map(|t| template::render(t, &vars))
            .collect::<Result<Vec<_>, _>>()?;
        let mut extra = user_args(self.scenario, self.model(cfg));
        for flag in matrix_flags(self.scenario, def) {
            extra = strip_flag(&extra, &flag).0;
        }
        argv.extend(extra);
        for (name, value) in &cfg.axes {
            match def.axes.get(name) {
                Some(AxisArg::Flag(flag)) => argv.extend(flag_args(flag, value)),
                Some(AxisArg::Args(list)) => {
                    if value == "default" {
                        continue;
                    }
                    let mut v = vars.clone();
                    v.insert("value".into(), value_of(value));
                    for t in list {
                        argv.push(template::render(t, &v)?);
                    }
                }
                None => {}
            }
        }
        for (flag, value) in &cfg.flags {
            argv.extend(flag_args(flag, value));
        }
        Ok(argv)
    }

    /// Whether `cfg` runs under mlx.launch: several ranks, ranks on other
    /// hosts, or `launcher.always`.
    pub fn uses_launcher(&self, cfg: &ServerConfig) -> bool {
        cfg.ranks > 1 || self.scenario.launcher.always || !cfg.hosts.is_empty()
    }

    /// The host instance `instance` of `cfg` is reached on (rank 0's under
    /// mlx.launch); `None` = this machine. A user's hostfile names rank 0
    /// itself (its first entry).
    pub fn host_of(&self, cfg: &ServerConfig, instance: u32) -> Option<Host> {
        crate::server::settings::ServerSettings::of(self.scenario)
            .instance_host(cfg, instance)
            .cloned()
    }

    /// The rank hosts of `cfg`, resolved (empty = this machine): the
    /// entries of the user's hostfile (each once, reached at its first IP),
    /// else the named hosts.
    pub fn rank_hosts(&self, cfg: &ServerConfig) -> Vec<Host> {
        let hostfile = &self.scenario.launcher.hostfile;
        if !cfg.hosts.is_empty()
            && !hostfile.trim().is_empty()
            && let Ok(f) = crate::scenario::hostfile::read(hostfile)
        {
            let mut out: Vec<Host> = Vec::new();
            for e in &f.hosts {
                if out.iter().any(|h| h.ssh == e.ssh) {
                    continue;
                }
                let mut h = resolve(self.scenario, &e.ssh).unwrap_or_else(|| Host::bare(&e.ssh));
                if let Some(ip) = e.ips.first() {
                    h.address = ip.clone();
                }
                out.push(h);
            }
            return out;
        }
        cfg.hosts
            .iter()
            .map(|n| resolve(self.scenario, n).unwrap_or_else(|| Host::bare("127.0.0.1")))
            .collect()
    }

    /// `MLXRUN_TAG` of instance `instance` of `cfg`: the run's tag, the
    /// configuration and the instance (`__host leftovers` matches prefixes).
    pub fn tag(&self, cfg: &ServerConfig, instance: u32) -> String {
        format!("{}/c{}/i{instance}", self.run_tag, cfg.index + 1)
    }

    /// The full argv of instance `instance` of `cfg` on `port`.
    pub fn instance_argv(
        &self,
        cfg: &ServerConfig,
        instance: u32,
        port: u16,
    ) -> Result<Vec<String>, String> {
        let server = self.server_argv(cfg, instance, port)?;
        if !self.uses_launcher(cfg) {
            let Some(host) = self.host_of(cfg, instance) else {
                return Ok(server);
            };
            // on another host: a supervisor there whose lifeline is ssh's
            // standard input (see crate::supervisor)
            let grace = self.scenario.backend.stop_grace_s.duration();
            let mut remote = vec![
                crate::remote::ssh::mlxrun_of(&host),
                crate::supervisor::SUBCOMMAND.to_string(),
                "--stdin-lifeline".into(),
                "--grace-ms".into(),
                grace.as_millis().to_string(),
                "--".into(),
            ];
            remote.extend(server);
            let env = [(TAG_VAR.to_string(), self.tag(cfg, instance))];
            return Ok(ssh_of(self.scenario).argv(&host, &env, &remote));
        }
        let mut argv = self.launcher_prefix(cfg, instance);
        argv.extend([
            "--".into(),
            self.python.clone(),
            "-c".into(),
            crate::server::ranks::RANK_SHIM.into(),
        ]);
        argv.extend(server);
        Ok(argv)
    }

    /// `mlx.launch` and its options for instance `instance` of `cfg`.
    pub fn launcher_prefix(&self, cfg: &ServerConfig, instance: u32) -> Vec<String> {
        let l = &self.scenario.launcher;
        let ranks = cfg.ranks;
        let backend = if cfg.launcher_backend.is_empty() {
            l.backend.clone()
        } else {
            cfg.launcher_backend.clone()
        };
        let bin = if !l.bin.trim().is_empty() {
            l.bin.clone()
        } else {
            let beside = Path::new(&self.python).with_file_name("mlx.launch");
            if self.python.contains('/') && beside.is_file() {
                beside.display().to_string()
            } else {
                "mlx.launch".to_string()
            }
        };
        let mut argv = vec![bin, "--backend".into(), backend.clone()];
        if !l.hostfile.trim().is_empty() {
            argv.extend(["--hostfile".into(), l.hostfile.clone()]);
        } else if !cfg.hosts.is_empty() {
            let path = std::path::absolute(hostfile_path(&self.run_dir, cfg.index))
                .unwrap_or_else(|_| hostfile_path(&self.run_dir, cfg.index));
            argv.extend(["--hostfile".into(), path.display().to_string()]);
        } else {
            argv.extend(["-n".into(), ranks.to_string()]);
        }
        if !cfg.hosts.is_empty() || !l.hostfile.trim().is_empty() {
            argv.extend([
                "--env".into(),
                format!("{TAG_VAR}={}", self.tag(cfg, instance)),
            ]);
        }
        if backend == "ring" {
            argv.extend([
                "--starting-port".into(),
                ring_port(self.scenario, instance).to_string(),
            ]);
        }
        for e in &l.env {
            argv.extend(["--env".into(), e.clone()]);
        }
        argv
    }

    /// The request's `model` field for `cfg`, when the backend sends one.
    pub fn request_model(&self, cfg: &ServerConfig) -> Result<Option<String>, String> {
        let def = self.def(cfg)?;
        if def.request_model.trim().is_empty() {
            return Ok(None);
        }
        let vars = self.vars(cfg, 0, 0)?;
        template::render(&def.request_model, &vars).map(Some)
    }

    /// User flags that the matrix replaces, for a warning.
    pub fn replaced_user_flags(&self) -> Vec<String> {
        let mut out = Vec::new();
        for m in self.models {
            let Some(def) = self.registry.get(&m.backend) else {
                continue;
            };
            let user = flag_names(&user_args(self.scenario, Some(m)));
            for f in matrix_flags(self.scenario, def) {
                if user.contains(&f) && !out.contains(&f) {
                    out.push(f);
                }
            }
        }
        out
    }
}

/// First ring port of instance `instance` (each instance gets 64).
pub fn ring_port(s: &Scenario, instance: u32) -> u32 {
    u32::from(s.launcher.starting_port) + 64 * instance
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::scenario::{Axis, BalanceMethod, RouterKind};

    fn cfg(backend: &str, axes: &[(&str, &str)]) -> ServerConfig {
        ServerConfig {
            index: 0,
            model: 0,
            model_name: "m".into(),
            model_arg: "/m".into(),
            backend: backend.into(),
            instances: 1,
            ranks: 1,
            ranks_total: 1,
            hosts: Vec::new(),
            placement: Vec::new(),
            launcher_backend: String::new(),
            axes: axes
                .iter()
                .map(|(a, v)| (a.to_string(), v.to_string()))
                .collect(),
            decode_concurrency: None,
            prompt_concurrency: None,
            flags: vec![
                ("--prefill-step-size".into(), "512".into()),
                ("--trust-remote-code".into(), "true".into()),
            ],
            router: RouterKind::None,
            balance: None::<BalanceMethod>,
        }
    }

    /// The commands of `s` in a test run folder `results/r`, tagged `t`.
    fn commands<'a>(
        s: &'a Scenario,
        reg: &'a Registry,
        models: &'a [ResolvedModel],
        python: &str,
    ) -> Commands<'a> {
        Commands {
            scenario: s,
            registry: reg,
            models,
            python: python.into(),
            run_dir: PathBuf::from("results/r"),
            run_tag: "t".into(),
        }
    }

    fn model() -> ResolvedModel {
        let mut m = ResolvedModel::for_test(0, "m", "mlx_lm");
        m.arg = "/m".into();
        m.args = vec!["--chat-template-args={}".into()];
        m
    }

    #[test]
    fn matrix_values_replace_user_flags_never_twice() {
        let mut s = Scenario::default();
        s.matrix.decode_concurrency = Some(Axis(vec![16]));
        s.matrix.prompt_concurrency = Some(Axis(vec![4]));
        for key in ["prefill_step_size", "trust_remote_code"] {
            s.matrix.server_flags.insert(key.into(), Axis(vec![]));
        }
        s.backend.server_args = "--decode-concurrency=99,--temp=0.5,--prefill-step-size=1".into();
        let reg = Registry::builtin();
        let models = [model()];
        let c = commands(&s, &reg, &models, "py");
        let argv = c
            .instance_argv(
                &cfg(
                    "mlx_lm",
                    &[("decode_concurrency", "16"), ("prompt_concurrency", "4")],
                ),
                1,
                9001,
            )
            .unwrap();
        assert_eq!(
            argv.join(" "),
            "py -m mlx_lm server --model /m --host 127.0.0.1 --port 9001 --temp=0.5 --chat-template-args={} --decode-concurrency 16 --prompt-concurrency 4 --prefill-step-size 512 --trust-remote-code"
        );
        assert_eq!(
            c.replaced_user_flags(),
            vec![
                "--decode-concurrency".to_string(),
                "--prefill-step-size".to_string()
            ]
        );
        assert_eq!(c.request_model(&cfg("mlx_lm", &[])).unwrap(), None);
    }

    #[test]
    fn llama_axes_render_templates_and_default_omits() {
        let s = Scenario::default();
        let reg = Registry::builtin();
        let models = [model()];
        let c = commands(&s, &reg, &models, "py");
        let mut k = cfg(
            "llama_server",
            &[
                ("parallel", "4"),
                ("ctx_per_slot", "512"),
                ("batch", "default"),
                ("ubatch", "256"),
            ],
        );
        k.flags.clear();
        let argv = c.server_argv(&k, 0, 9000).unwrap();
        let line = argv[1..].join(" ");
        assert_eq!(
            line,
            "-m /m --host 127.0.0.1 --port 9000 --metrics --chat-template-args={} --parallel 4 --ctx-size 2048 -ub 256"
        );
    }

    #[test]
    fn ranks_put_mlx_launch_in_front() {
        let mut s = Scenario::default();
        s.launcher.env = vec!["MLX_METAL_FAST_SYNCH=1".into()];
        let reg = Registry::builtin();
        let models = [model()];
        let c = commands(&s, &reg, &models, "/nowhere/python");
        let mut k = cfg("mlx_lm", &[]);
        k.flags.clear();
        k.ranks = 2;
        let argv = c.instance_argv(&k, 1, 9001).unwrap();
        let dash = argv.iter().position(|a| a == "--").unwrap();
        assert_eq!(
            argv[..dash].join(" "),
            "mlx.launch --backend ring -n 2 --starting-port 32387 --env MLX_METAL_FAST_SYNCH=1"
        );
        // each rank runs the parent-death shim, then the server
        assert_eq!(argv[dash + 1..dash + 3].join(" "), "/nowhere/python -c");
        assert_eq!(
            argv[dash + 4..].join(" "),
            "/nowhere/python -m mlx_lm server --model /m --host 127.0.0.1 --port 9001 --chat-template-args={}"
        );
    }

    #[test]
    fn a_users_hostfile_names_the_rank_hosts_and_where_rank_0_serves() {
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join("cluster.json");
        std::fs::write(
            &file,
            r#"{"backend": "jaccl", "hosts": [
                {"ssh": "studio", "ips": ["192.168.2.1"], "rdma": [null, "rdma_en3"]},
                {"ssh": "mini", "ips": ["192.168.2.2"], "rdma": ["rdma_en3", null]}]}"#,
        )
        .unwrap();
        let mut s = Scenario::default();
        s.launcher.hostfile = file.display().to_string();
        let reg = Registry::builtin();
        let models = [model()];
        let c = commands(&s, &reg, &models, "py");
        let mut k = cfg("mlx_lm", &[]);
        k.flags.clear();
        k.hosts = vec!["studio".into(), "mini".into()];
        let hosts = c.rank_hosts(&k);
        let got: Vec<(&str, &str)> = hosts
            .iter()
            .map(|h| (h.ssh.as_str(), h.address.as_str()))
            .collect();
        assert_eq!(got, [("studio", "192.168.2.1"), ("mini", "192.168.2.2")]);
        // rank 0 serves on the first entry's first IP, and binds there
        let argv = c.instance_argv(&k, 0, 9000).unwrap();
        let line = argv.join(" ");
        assert!(
            line.contains(&format!("--hostfile {}", file.display())),
            "{line}"
        );
        assert!(line.contains("--host 192.168.2.1 --port 9000"), "{line}");
        assert!(line.contains("--env MLXRUN_TAG=t/c1/i0"), "{line}");
    }

    #[test]
    fn an_instance_on_another_host_runs_there_under_a_stdin_supervisor() {
        let mut s = Scenario::default();
        s.hosts.insert(
            "a".into(),
            crate::spec::scenario::HostEntry {
                ssh: "me@studio".into(),
                address: "10.0.0.2".into(),
                python: "/opt/py".into(),
                mlxrun: "/opt/mlxrun".into(),
                workdir: "/srv/bench".into(),
                ..Default::default()
            },
        );
        let reg = Registry::builtin();
        let models = [model()];
        let c = commands(&s, &reg, &models, "py");
        let mut k = cfg("mlx_lm", &[]);
        k.flags.clear();
        k.instances = 2;
        k.placement = vec!["local".into(), "a".into()];
        // instance 0 stays here
        assert_eq!(c.instance_argv(&k, 0, 9000).unwrap()[0], "py");
        let argv = c.instance_argv(&k, 1, 9001).unwrap();
        assert_eq!(argv[..2], ["ssh".to_string(), "-T".to_string()]);
        assert_eq!(argv[argv.len() - 2], "me@studio");
        let script = argv.last().unwrap();
        assert!(script.starts_with("cd /srv/bench || {"), "{script}");
        assert!(
            script.ends_with(
                "exec env 'MLXRUN_TAG=t/c1/i1' /opt/mlxrun __supervise --stdin-lifeline --grace-ms 10000 -- /opt/py -m mlx_lm server --model /m --host 10.0.0.2 --port 9001 '--chat-template-args={}'"
            ),
            "{script}"
        );
    }
}
