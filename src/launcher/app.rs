//! The launcher's state machine: a stack of screens over the choices, keys
//! in, actions out (run, serve, quit). No terminal here, so every menu is
//! tested as plain data; [`super::ui`] draws it.

use std::path::{Path, PathBuf};

use super::browser::{self, Browser, CachedModel, Pick};
use super::choices::{self, Choices};
use super::picker::{self, ScenarioEntry};
use super::store;

/// A key, as the launcher sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
    Enter,
    Esc,
    Backspace,
    /// Ctrl-C: leave the launcher from any menu.
    CtrlC,
    /// Ctrl-U: clear an input.
    CtrlU,
    Char(char),
}

/// What the main loop does after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    None,
    /// Leave the launcher with this exit code.
    Quit(i32),
    /// Leave the menus and run the chosen scenario.
    Run,
    /// Leave the menus and run `mlxrun serve <verb>`.
    Serve(&'static str),
}

/// What an input line sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    HfRepo,
    MaxTokens,
    Concurrency,
    Requests,
    Env,
    ServerArgs,
    RrInstances,
    RrBasePort,
    RrNginxPort,
    RrHost,
    RrArgs,
}

/// A one-line text input.
#[derive(Debug, Clone)]
pub struct Input {
    pub title: String,
    pub hint: String,
    pub value: String,
    pub purpose: Purpose,
    /// Why the last Enter was refused.
    pub error: Option<String>,
}

/// One screen of the launcher.
#[derive(Debug, Clone)]
pub enum Screen {
    Main {
        sel: usize,
    },
    Scenarios {
        list: Vec<ScenarioEntry>,
        sel: usize,
    },
    ModelSource {
        sel: usize,
    },
    Browser(Browser),
    HfCache {
        dir: Option<PathBuf>,
        list: Vec<CachedModel>,
        sel: usize,
    },
    Tokens {
        sel: usize,
    },
    Input(Input),
    /// A scrollable text (the plan).
    Text {
        title: String,
        lines: Vec<String>,
        scroll: usize,
    },
    RoundRobin {
        sel: usize,
    },
}

/// What loading the scenario with the current choices gave.
#[derive(Debug, Clone, Default)]
pub struct Status {
    /// Points of the plan, when it loads and expands.
    pub points: Option<usize>,
    /// The loader's (or the expansion's) error.
    pub error: Option<String>,
    /// Effective values by field (`matrix.max_tokens` → `[64]`).
    pub values: Vec<(String, String)>,
}

impl Status {
    /// The effective value of `field` as TOML text, when loaded.
    pub fn value(&self, field: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| k == field)
            .map(|(_, v)| v.as_str())
    }
}

/// The launcher: choices, screens, status.
#[derive(Debug, Clone)]
pub struct App {
    pub choices: Choices,
    pub stack: Vec<Screen>,
    pub status: Status,
    /// A one-off message (saved-file note, refusal), cleared by the next key.
    pub note: Option<String>,
    pub cwd: PathBuf,
    store_file: PathBuf,
}

/// Main menu lines, in order.
pub const MAIN_ITEMS: usize = 9;
const MAIN_RUN: usize = 6;
/// Round-robin submenu lines, in order.
pub const RR_ITEMS: [&str; 9] = [
    "Instances",
    "Base port",
    "Nginx port",
    "Host",
    "Advanced args",
    "Start round-robin servers",
    "Stop round-robin servers",
    "Status",
    "Back",
];
/// Model source lines.
pub const MODEL_SOURCES: [&str; 4] = [
    "Hugging Face repo id…",
    "Browse local folders…",
    "Hugging Face cache…",
    "Keep the scenario's",
];
const TOKENS_ITEMS: usize = 4;

impl App {
    /// The launcher in `cwd`, with the choices saved there.
    pub fn new(cwd: &Path) -> App {
        let store_file = store::path(cwd);
        let (choices, note) = store::load(&store_file);
        let mut app = App {
            choices,
            stack: vec![Screen::Main { sel: 0 }],
            status: Status::default(),
            note,
            cwd: cwd.to_path_buf(),
            store_file,
        };
        // the last scenario used while it exists, else the quickstart, else the first
        let offered: Vec<PathBuf> = picker::list(&cwd.join("scenarios"))
            .iter()
            .map(|e| relative(&e.path, cwd))
            .collect();
        let saved = app.choices.scenario.take();
        app.choices.scenario =
            picker::opening_choice(saved.as_deref(), &offered, |p| cwd.join(p).is_file());
        if let Some(gone) = saved.filter(|s| app.choices.scenario.as_ref() != Some(s))
            && app.note.is_none()
        {
            app.note = Some(format!(
                "the last scenario used, {}, is gone; opened {}",
                gone.display(),
                app.choices
                    .scenario
                    .as_deref()
                    .map_or("none".into(), |p| p.display().to_string())
            ));
        }
        app.refresh();
        app
    }

    /// The screen on top.
    pub fn screen(&self) -> &Screen {
        self.stack.last().unwrap_or(&Screen::Main { sel: 0 })
    }

    /// Reload the scenario with the choices into [`App::status`].
    pub fn refresh(&mut self) {
        self.status = match self.choices.load(&self.cwd) {
            Err(e) => Status {
                error: Some(e),
                ..Status::default()
            },
            Ok(r) => {
                let values = r.provenance().into_iter().map(|(k, v, _)| (k, v)).collect();
                Status {
                    points: Some(r.plan.points.len()),
                    error: None,
                    values,
                }
            }
        };
    }

    /// Save and reload after a choice changed.
    fn changed(&mut self) {
        if let Err(e) = store::save(&self.store_file, &self.choices) {
            self.note = Some(e);
        }
        self.refresh();
    }

    fn pop_to_main(&mut self) {
        self.stack.truncate(1);
    }

    /// One line of the status bar: points, or the first error line.
    pub fn status_line(&self) -> String {
        match (&self.status.error, self.status.points) {
            (Some(e), _) => format!("error: {e}"),
            (None, Some(n)) => format!("{n} point(s); Enter on Run starts them"),
            (None, None) => String::new(),
        }
    }

    /// The main menu's lines.
    pub fn main_items(&self) -> Vec<String> {
        let c = &self.choices;
        let scen = match &c.scenario {
            None => "(none)".to_string(),
            Some(p) => {
                let e = picker::entry(&self.cwd.join(p));
                if e.description.is_empty() {
                    e.name
                } else {
                    format!("{} — {}", e.name, e.description)
                }
            }
        };
        let model = match &c.model {
            Some(m) => choices::trim_start(m, 40),
            None => match self.status.value("model.path") {
                Some(v) => format!("{} (scenario)", choices::trim_start(&unquote(v), 40)),
                None => "(scenario's)".into(),
            },
        };
        let list = |chosen: &[u64], field: &str| -> String {
            if chosen.is_empty() {
                self.status
                    .value(field)
                    .map(|v| format!("{} (scenario)", unquote(v)))
                    .unwrap_or_else(|| "(scenario's)".into())
            } else {
                chosen
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            }
        };
        let or_none = |s: &str| {
            if s.trim().is_empty() {
                "(none)".to_string()
            } else {
                s.trim().to_string()
            }
        };
        vec![
            format!("Scenario: {scen}"),
            format!("Model: {model}"),
            format!(
                "Tokens: {} / Concurrency: {}",
                list(&c.max_tokens, "matrix.max_tokens"),
                list(&c.concurrency, "matrix.concurrency")
            ),
            format!("Env: {}", or_none(&c.env)),
            format!("Advanced: {}", or_none(&c.server_args)),
            "Show plan".into(),
            "Run".into(),
            "Round-robin servers…".into(),
            "Exit".into(),
        ]
    }

    /// The tokens submenu's lines.
    pub fn tokens_items(&self) -> Vec<String> {
        let c = &self.choices;
        let or_scen = |s: String, field: &str| {
            if s.is_empty() {
                self.status
                    .value(field)
                    .map(|v| format!("{} (scenario)", unquote(v)))
                    .unwrap_or_else(|| "(scenario's)".into())
            } else {
                s
            }
        };
        let join = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
        vec![
            format!(
                "Max tokens: {}",
                or_scen(join(&c.max_tokens), "matrix.max_tokens")
            ),
            format!(
                "Concurrency: {}",
                or_scen(join(&c.concurrency), "matrix.concurrency")
            ),
            format!(
                "Requests per point: {}",
                or_scen(
                    c.requests.map(|r| r.to_string()).unwrap_or_default(),
                    "workload.requests"
                )
            ),
            "Back".into(),
        ]
    }

    /// The round-robin submenu's lines.
    pub fn rr_items(&self) -> Vec<String> {
        let rr = &self.choices.rr;
        let or_scen = |s: String, field: &str| {
            if s.is_empty() {
                self.status
                    .value(field)
                    .map(|v| format!("{} (scenario)", unquote(v)))
                    .unwrap_or_else(|| "(scenario's)".into())
            } else {
                s
            }
        };
        let n = |v: Option<String>| v.unwrap_or_default();
        let vals = [
            or_scen(n(rr.instances.map(|v| v.to_string())), "matrix.instances"),
            or_scen(n(rr.base_port.map(|v| v.to_string())), "backend.base_port"),
            or_scen(n(rr.nginx_port.map(|v| v.to_string())), "router.port"),
            or_scen(rr.host.trim().to_string(), "backend.host"),
            or_scen(rr.server_args.trim().to_string(), "backend.server_args"),
        ];
        RR_ITEMS
            .iter()
            .enumerate()
            .map(|(i, l)| match vals.get(i) {
                Some(v) => format!("{l}: {v}"),
                None => (*l).to_string(),
            })
            .collect()
    }

    /// Handle one key.
    pub fn key(&mut self, key: Key) -> Action {
        if key == Key::CtrlC {
            return Action::Quit(crate::error::EXIT_INTERRUPTED);
        }
        self.note = None;
        let Some(top) = self.stack.pop() else {
            return Action::Quit(0);
        };
        match top {
            Screen::Main { sel } => self.main_key(sel, key),
            Screen::Scenarios { list, sel } => {
                let sel = step(sel, list.len(), key);
                match key {
                    Key::Esc | Key::Char('q') => {}
                    Key::Enter => {
                        if let Some(e) = list.get(sel) {
                            self.choices.scenario = Some(relative(&e.path, &self.cwd));
                            self.changed();
                        }
                    }
                    _ => self.stack.push(Screen::Scenarios { list, sel }),
                }
                Action::None
            }
            Screen::ModelSource { sel } => {
                let sel = step(sel, MODEL_SOURCES.len(), key);
                match key {
                    Key::Esc | Key::Char('q') => {}
                    Key::Enter => {
                        self.stack.push(Screen::ModelSource { sel });
                        self.model_source(sel);
                    }
                    _ => self.stack.push(Screen::ModelSource { sel }),
                }
                Action::None
            }
            Screen::Browser(mut b) => {
                b.sel = step(b.sel, b.entries.len(), key);
                match key {
                    Key::Esc | Key::Char('q') => {}
                    Key::Enter => match b.enter() {
                        Pick::Model(p) => {
                            self.choices.model =
                                Some(choices::display_path(&p, &absolute(&self.cwd)));
                            self.pop_to_main();
                            self.changed();
                        }
                        Pick::Moved | Pick::Nothing => self.stack.push(Screen::Browser(b)),
                    },
                    _ => self.stack.push(Screen::Browser(b)),
                }
                Action::None
            }
            Screen::HfCache { dir, list, sel } => {
                let sel = step(sel, list.len(), key);
                match key {
                    Key::Esc | Key::Char('q') => {}
                    Key::Enter if !list.is_empty() => {
                        self.choices.model = Some(list[sel].repo.clone());
                        self.pop_to_main();
                        self.changed();
                    }
                    _ => self.stack.push(Screen::HfCache { dir, list, sel }),
                }
                Action::None
            }
            Screen::Tokens { sel } => {
                let sel = step(sel, TOKENS_ITEMS, key);
                match key {
                    Key::Esc | Key::Char('q') => {}
                    Key::Enter if sel == TOKENS_ITEMS - 1 => {}
                    Key::Enter => {
                        self.stack.push(Screen::Tokens { sel });
                        let c = &self.choices;
                        let join =
                            |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
                        let input = match sel {
                            0 => input(
                                "Max tokens",
                                "one value or a comma list (a sweep), e.g. 64,128; empty: the scenario's",
                                join(&c.max_tokens),
                                Purpose::MaxTokens,
                            ),
                            1 => input(
                                "Concurrency",
                                "a comma list of concurrent requests, e.g. 1,8,64; empty: the scenario's",
                                join(&c.concurrency),
                                Purpose::Concurrency,
                            ),
                            _ => input(
                                "Requests per point",
                                "measured requests of every point; empty: the scenario's",
                                c.requests.map(|r| r.to_string()).unwrap_or_default(),
                                Purpose::Requests,
                            ),
                        };
                        self.stack.push(Screen::Input(input));
                    }
                    _ => self.stack.push(Screen::Tokens { sel }),
                }
                Action::None
            }
            Screen::Input(mut i) => {
                match key {
                    Key::Esc => {}
                    Key::Enter => match self.apply(&i) {
                        Ok(()) => {
                            if i.purpose == Purpose::HfRepo {
                                self.pop_to_main();
                            }
                        }
                        Err(e) => {
                            i.error = Some(e);
                            self.stack.push(Screen::Input(i));
                        }
                    },
                    Key::Backspace => {
                        i.value.pop();
                        i.error = None;
                        self.stack.push(Screen::Input(i));
                    }
                    Key::CtrlU => {
                        i.value.clear();
                        i.error = None;
                        self.stack.push(Screen::Input(i));
                    }
                    Key::Char(c) => {
                        i.value.push(c);
                        i.error = None;
                        self.stack.push(Screen::Input(i));
                    }
                    _ => self.stack.push(Screen::Input(i)),
                }
                Action::None
            }
            Screen::Text {
                title,
                lines,
                scroll,
            } => {
                const PAGE: usize = 10;
                let last = lines.len().saturating_sub(1);
                let scroll = match key {
                    Key::Up => scroll.saturating_sub(1),
                    Key::Down => (scroll + 1).min(last),
                    Key::PageUp => scroll.saturating_sub(PAGE),
                    Key::PageDown => (scroll + PAGE).min(last),
                    Key::Home => 0,
                    Key::End => last,
                    _ => scroll,
                };
                if !matches!(key, Key::Esc | Key::Char('q') | Key::Enter) {
                    self.stack.push(Screen::Text {
                        title,
                        lines,
                        scroll,
                    });
                }
                Action::None
            }
            Screen::RoundRobin { sel } => self.rr_key(sel, key),
        }
    }

    fn main_key(&mut self, sel: usize, key: Key) -> Action {
        let sel = step(sel, MAIN_ITEMS, key);
        self.stack.push(Screen::Main { sel });
        match key {
            Key::Esc | Key::Char('q') => Action::Quit(0),
            Key::Enter => match sel {
                0 => {
                    let list = picker::list(&self.cwd.join("scenarios"));
                    if list.is_empty() {
                        self.note = Some(format!(
                            "no *.toml files in {}\n  next: start mlxrun in the folder that holds scenarios/",
                            self.cwd.join("scenarios").display()
                        ));
                    } else {
                        let cur = self.choices.scenario.clone();
                        let sel = list
                            .iter()
                            .position(|e| Some(relative(&e.path, &self.cwd)) == cur)
                            .unwrap_or(0);
                        self.stack.push(Screen::Scenarios { list, sel });
                    }
                    Action::None
                }
                1 => {
                    self.stack.push(Screen::ModelSource { sel: 0 });
                    Action::None
                }
                2 => {
                    self.stack.push(Screen::Tokens { sel: 0 });
                    Action::None
                }
                3 => {
                    self.stack.push(Screen::Input(input(
                        "Env overrides",
                        "KEY=VALUE pairs, shell-quoted, e.g. MLX_CONCURRENCY=64 MLX_NUM_REQUESTS=64 (MLX_* names or MLXRUN_SECTION__FIELD)",
                        self.choices.env.clone(),
                        Purpose::Env,
                    )));
                    Action::None
                }
                4 => {
                    self.stack.push(Screen::Input(input(
                        "Advanced: server arguments",
                        "as MLX_SERVER_ARGS: split like a shell, or at commas when there is one (--temp=0.5,--trust-remote-code); empty: the scenario's",
                        self.choices.server_args.clone(),
                        Purpose::ServerArgs,
                    )));
                    Action::None
                }
                5 => {
                    self.show_plan();
                    Action::None
                }
                MAIN_RUN => {
                    if let Some(e) = &self.status.error {
                        self.note = Some(format!("cannot run: {e}"));
                        Action::None
                    } else {
                        Action::Run
                    }
                }
                7 => {
                    self.stack.push(Screen::RoundRobin { sel: 0 });
                    Action::None
                }
                _ => Action::Quit(0),
            },
            _ => Action::None,
        }
    }

    fn rr_key(&mut self, sel: usize, key: Key) -> Action {
        let sel = step(sel, RR_ITEMS.len(), key);
        if matches!(key, Key::Esc | Key::Char('q')) {
            return Action::None;
        }
        self.stack.push(Screen::RoundRobin { sel });
        if key != Key::Enter {
            return Action::None;
        }
        let rr = &self.choices.rr;
        let opt = |v: Option<String>| v.unwrap_or_default();
        let i = match sel {
            0 => input(
                "Instances",
                "servers behind nginx (a number > 0); empty: the scenario's",
                opt(rr.instances.map(|v| v.to_string())),
                Purpose::RrInstances,
            ),
            1 => input(
                "Base port",
                "instance i listens on base port + i; empty: the scenario's",
                opt(rr.base_port.map(|v| v.to_string())),
                Purpose::RrBasePort,
            ),
            2 => input(
                "Nginx port",
                "the round-robin address clients use; empty: the scenario's",
                opt(rr.nginx_port.map(|v| v.to_string())),
                Purpose::RrNginxPort,
            ),
            3 => input(
                "Host",
                "address the servers bind to (127.0.0.1 keeps them local); empty: the scenario's",
                rr.host.clone(),
                Purpose::RrHost,
            ),
            4 => input(
                "Advanced args",
                "server arguments of these servers (MLX_SERVER_ARGS semantics); empty: the run's",
                rr.server_args.clone(),
                Purpose::RrArgs,
            ),
            5..=7 => {
                if self.choices.scenario.is_none() {
                    self.note = Some("pick a scenario first".into());
                    return Action::None;
                }
                if let Err(e) = self.choices.env_pairs() {
                    self.note = Some(format!("fix Env first: {e}"));
                    return Action::None;
                }
                return Action::Serve(["up", "down", "status"][sel - 5]);
            }
            _ => {
                self.stack.pop();
                return Action::None;
            }
        };
        self.stack.push(Screen::Input(i));
        Action::None
    }

    fn model_source(&mut self, sel: usize) {
        match sel {
            0 => {
                let value = match &self.choices.model {
                    Some(m) if m.contains('/') && !Path::new(m).exists() => m.clone(),
                    _ => "mlx-community/".into(),
                };
                self.stack.push(Screen::Input(input(
                    "Hugging Face repo id",
                    "ORG/NAME, e.g. mlx-community/Llama-3.2-1B-Instruct-4bit (the server downloads it or finds it in the cache)",
                    value,
                    Purpose::HfRepo,
                )));
            }
            1 => self.stack.push(Screen::Browser(Browser::start(&self.cwd))),
            2 => {
                let dir = browser::hf_cache_dir();
                let list = dir
                    .as_deref()
                    .map(browser::cached_models)
                    .unwrap_or_default();
                self.stack.push(Screen::HfCache { dir, list, sel: 0 });
            }
            _ => {
                self.choices.model = None;
                self.pop_to_main();
                self.changed();
            }
        }
    }

    /// Check an input's value and store it; the error is shown in the input.
    fn apply(&mut self, i: &Input) -> Result<(), String> {
        let v = i.value.trim();
        let mut next = self.choices.clone();
        let c = &mut next;
        match i.purpose {
            Purpose::HfRepo => {
                let parts: Vec<&str> = v.split('/').collect();
                if parts.len() != 2 || parts.iter().any(|p| p.trim().is_empty()) || v.contains(' ')
                {
                    return Err(format!(
                        "{v:?} is not a repo id; write ORG/NAME, e.g. mlx-community/Qwen3-0.6B-4bit"
                    ));
                }
                c.model = Some(v.to_string());
            }
            Purpose::MaxTokens => c.max_tokens = choices::parse_positive_list(v)?,
            Purpose::Concurrency => c.concurrency = choices::parse_positive_list(v)?,
            Purpose::Requests => c.requests = choices::parse_positive(v)?,
            Purpose::Env => {
                c.env = v.to_string();
                // names mlxrun does not read at all
                c.env_pairs().map_err(|e| e.to_string())?;
            }
            Purpose::ServerArgs => c.server_args = v.to_string(),
            Purpose::RrInstances => c.rr.instances = choices::parse_positive(v)?,
            Purpose::RrBasePort => c.rr.base_port = choices::parse_port(v)?,
            Purpose::RrNginxPort => c.rr.nginx_port = choices::parse_port(v)?,
            Purpose::RrHost => c.rr.host = v.to_string(),
            Purpose::RrArgs => c.rr.server_args = v.to_string(),
        }
        // the loader's own errors about what was just typed
        if let Some(e) = self.own_problems(&next, i.purpose) {
            return Err(e);
        }
        self.choices = next;
        self.changed();
        Ok(())
    }

    /// The loader's problems with `next` that come from the value of
    /// `purpose` (other problems stay in the status line).
    fn own_problems(&self, next: &Choices, purpose: Purpose) -> Option<String> {
        let typed: Vec<String> = match purpose {
            Purpose::Env => next
                .env_pairs()
                .unwrap_or_default()
                .into_iter()
                .map(|(k, _)| k)
                .collect(),
            Purpose::ServerArgs => vec!["backend.server_args".into()],
            _ => return None,
        };
        let path = next.scenario.as_deref()?;
        let overrides = next.overrides().ok()?;
        let Err(crate::scenario::ScenarioError::Invalid(problems)) =
            choices::load_in(path, &overrides, &self.cwd)
        else {
            return None;
        };
        let mine: Vec<String> = problems
            .iter()
            .filter(|p| match &p.origin {
                crate::scenario::Origin::Env { var } => typed.contains(var),
                crate::scenario::Origin::Set { .. } => typed.contains(&p.field),
                _ => false,
            })
            .map(ToString::to_string)
            .collect();
        (!mine.is_empty()).then(|| mine.join("\n"))
    }

    fn show_plan(&mut self) {
        let text = match self.choices.load(&self.cwd) {
            Err(e) => Err(e),
            Ok(r) => crate::cmd::plan::render(&r),
        };
        match text {
            Ok(t) => self.stack.push(Screen::Text {
                title: "Plan (↑/↓ PgUp/PgDn to scroll, Esc back)".into(),
                lines: t.lines().map(String::from).collect(),
                scroll: 0,
            }),
            Err(e) => self.note = Some(format!("no plan: {e}")),
        }
    }
}

fn input(title: &str, hint: &str, value: String, purpose: Purpose) -> Input {
    Input {
        title: title.into(),
        hint: hint.into(),
        value,
        purpose,
        error: None,
    }
}

/// Move a selection by a key in a list of `len` lines (wrapping).
fn step(sel: usize, len: usize, key: Key) -> usize {
    if len == 0 {
        return 0;
    }
    match key {
        Key::Up => (sel + len - 1) % len,
        Key::Down => (sel + 1) % len,
        Key::Home | Key::PageUp => 0,
        Key::End | Key::PageDown => len - 1,
        Key::Char(c @ '1'..='9') => {
            let n = c as usize - '1' as usize;
            if n < len { n } else { sel }
        }
        _ => sel.min(len - 1),
    }
}

/// `path` relative to `cwd` when under it.
fn relative(path: &Path, cwd: &Path) -> PathBuf {
    path.strip_prefix(cwd)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// A TOML string value without its quotes.
pub(crate) fn unquote(v: &str) -> String {
    match toml::from_str::<toml::Table>(&format!("v = {v}")) {
        Ok(t) => match t.get("v") {
            Some(toml::Value::String(s)) => s.clone(),
            Some(toml::Value::Array(a)) => a
                .iter()
                .map(|x| match x {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(","),
            _ => v.to_string(),
        },
        Err(_) => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder with `scenarios/a.toml` (a local model folder) and `b.toml`.
    fn workspace() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        std::fs::create_dir_all(root.join("scenarios")).unwrap();
        std::fs::create_dir_all(root.join("models/m")).unwrap();
        std::fs::write(root.join("models/m/config.json"), "{}").unwrap();
        std::fs::write(
            root.join("scenarios/a.toml"),
            format!(
                "name = \"a\"\ndescription = \"first\"\n[model]\npath = \"{}\"\n[matrix]\nconcurrency = [1, 2]\nmax_tokens = 8\n",
                root.join("models/m").display()
            ),
        )
        .unwrap();
        std::fs::write(
            root.join("scenarios/b.toml"),
            "name = \"b\"\n[model]\npath = \"missing-model\"\n",
        )
        .unwrap();
        t
    }

    fn keys(app: &mut App, ks: &[Key]) -> Action {
        let mut last = Action::None;
        for k in ks {
            last = app.key(*k);
        }
        last
    }

    fn text(app: &mut App, s: &str) {
        for c in s.chars() {
            app.key(Key::Char(c));
        }
    }

    #[test]
    fn the_first_start_offers_the_first_scenario_with_its_point_count() {
        let t = workspace();
        let app = App::new(t.path());
        assert_eq!(
            app.choices.scenario,
            Some(PathBuf::from("scenarios/a.toml"))
        );
        assert_eq!(app.status.points, Some(2), "{:?}", app.status.error);
        let items = app.main_items();
        assert_eq!(items.len(), MAIN_ITEMS);
        assert_eq!(items[0], "Scenario: a — first");
        assert_eq!(
            items[2],
            "Tokens: 8 (scenario) / Concurrency: 1,2 (scenario)"
        );
        assert_eq!(app.status_line(), "2 point(s); Enter on Run starts them");
    }

    #[test]
    fn the_launcher_opens_on_the_quickstart_then_on_the_last_scenario_used() {
        let t = workspace();
        let root = t.path();
        std::fs::write(
            root.join("scenarios/quickstart.toml"),
            format!(
                "name = \"quickstart\"\n[model]\npath = \"{}\"\n",
                root.join("models/m").display()
            ),
        )
        .unwrap();
        // a fresh start: the quickstart, though `a` comes first
        let mut app = App::new(root);
        assert_eq!(
            app.choices.scenario,
            Some(PathBuf::from("scenarios/quickstart.toml"))
        );
        assert_eq!(app.status.error, None);
        assert_eq!(app.note, None);
        // the picker opens on it; `b` is chosen and saved
        keys(&mut app, &[Key::Char('1'), Key::Enter]);
        let Screen::Scenarios { sel, .. } = app.screen() else {
            panic!("not the picker")
        };
        assert_eq!(*sel, 2);
        keys(&mut app, &[Key::Up, Key::Enter]);
        let b = Some(PathBuf::from("scenarios/b.toml"));
        assert_eq!(app.choices.scenario, b);
        // the next start opens on the last one used
        assert_eq!(App::new(root).choices.scenario, b);
        // once it is gone: the quickstart again, with a note saying why
        std::fs::remove_file(root.join("scenarios/b.toml")).unwrap();
        let app = App::new(root);
        assert_eq!(
            app.choices.scenario,
            Some(PathBuf::from("scenarios/quickstart.toml"))
        );
        let note = app.note.unwrap();
        assert!(
            note.contains("scenarios/b.toml, is gone; opened scenarios/quickstart.toml"),
            "{note}"
        );
    }

    #[test]
    fn esc_and_q_leave_from_the_main_menu_and_ctrl_c_from_anywhere() {
        let t = workspace();
        let mut app = App::new(t.path());
        assert_eq!(app.key(Key::Esc), Action::Quit(0));
        let mut app = App::new(t.path());
        assert_eq!(app.key(Key::Char('q')), Action::Quit(0));
        let mut app = App::new(t.path());
        assert_eq!(
            keys(&mut app, &[Key::Char('9'), Key::Enter]),
            Action::Quit(0)
        );
        let mut app = App::new(t.path());
        keys(&mut app, &[Key::Char('4'), Key::Enter]);
        assert!(matches!(app.screen(), Screen::Input(_)));
        // q is text in an input, Esc goes back, Ctrl-C leaves
        app.key(Key::Char('q'));
        assert!(matches!(app.screen(), Screen::Input(i) if i.value == "q"));
        assert_eq!(app.key(Key::CtrlC), Action::Quit(130));
    }

    #[test]
    fn picking_a_scenario_saves_it_and_shows_the_loaders_error() {
        let t = workspace();
        let mut app = App::new(t.path());
        keys(&mut app, &[Key::Char('1'), Key::Enter]);
        let Screen::Scenarios { list, sel } = app.screen() else {
            panic!("not the picker")
        };
        assert_eq!((list.len(), *sel), (2, 0));
        keys(&mut app, &[Key::Down, Key::Enter]);
        assert!(matches!(app.screen(), Screen::Main { .. }));
        assert_eq!(
            app.choices.scenario,
            Some(PathBuf::from("scenarios/b.toml"))
        );
        let err = app.status.error.clone().unwrap();
        assert!(err.contains("missing-model"), "{err}");
        // a bad choice cannot run; the reason is shown
        assert_eq!(keys(&mut app, &[Key::Char('7'), Key::Enter]), Action::None);
        assert!(app.note.as_deref().unwrap().starts_with("cannot run: "));
        // remembered
        assert_eq!(App::new(t.path()).choices.scenario, app.choices.scenario);
    }

    #[test]
    fn model_sources_set_and_clear_model_path() {
        let t = workspace();
        let mut app = App::new(t.path());
        keys(&mut app, &[Key::Char('2'), Key::Enter, Key::Enter]);
        let Screen::Input(i) = app.screen() else {
            panic!("no input")
        };
        assert_eq!(i.value, "mlx-community/");
        app.key(Key::Enter);
        let Screen::Input(i) = app.screen() else {
            panic!("an incomplete repo id is refused")
        };
        assert!(i.error.as_deref().unwrap().contains("ORG/NAME"));
        text(&mut app, "Qwen3-0.6B-4bit");
        app.key(Key::Enter);
        assert!(matches!(app.screen(), Screen::Main { .. }));
        assert_eq!(
            app.choices.model.as_deref(),
            Some("mlx-community/Qwen3-0.6B-4bit")
        );
        assert!(app.choices.sets()[0].starts_with("model.path=mlx-community/"));
        // browse: ./models, the model folder selected by a relative path
        keys(
            &mut app,
            &[Key::Char('2'), Key::Enter, Key::Char('2'), Key::Enter],
        );
        let Screen::Browser(b) = app.screen() else {
            panic!("no browser")
        };
        assert!(b.dir.ends_with("models"));
        keys(&mut app, &[Key::Down, Key::Enter]);
        assert_eq!(app.choices.model.as_deref(), Some("models/m"));
        assert_eq!(app.status.points, Some(2), "{:?}", app.status.error);
        // keep the scenario's
        keys(
            &mut app,
            &[Key::Char('2'), Key::Enter, Key::Char('4'), Key::Enter],
        );
        assert_eq!(app.choices.model, None);
    }

    #[test]
    fn tokens_are_checked_inline_and_change_the_point_count() {
        let t = workspace();
        let mut app = App::new(t.path());
        keys(&mut app, &[Key::Char('3'), Key::Enter, Key::Enter]);
        text(&mut app, "16,x");
        app.key(Key::Enter);
        let Screen::Input(i) = app.screen() else {
            panic!("refused values stay in the input")
        };
        assert!(
            i.error
                .as_deref()
                .unwrap()
                .contains("\"x\" is not a number > 0")
        );
        app.key(Key::CtrlU);
        text(&mut app, "16,32");
        app.key(Key::Enter);
        assert!(matches!(app.screen(), Screen::Tokens { .. }));
        assert_eq!(app.choices.max_tokens, [16, 32]);
        assert_eq!(app.status.points, Some(4));
        keys(&mut app, &[Key::Char('3'), Key::Enter]);
        text(&mut app, "5");
        app.key(Key::Enter);
        assert_eq!(app.choices.requests, Some(5));
        assert_eq!(app.tokens_items()[2], "Requests per point: 5");
        app.key(Key::Esc);
        assert_eq!(
            app.main_items()[2],
            "Tokens: 16,32 / Concurrency: 1,2 (scenario)"
        );
    }

    #[test]
    fn a_bad_env_value_is_the_loaders_error_in_the_input() {
        let t = workspace();
        let mut app = App::new(t.path());
        keys(&mut app, &[Key::Char('4'), Key::Enter]);
        text(&mut app, "MLX_CONCURRENCY=zero");
        app.key(Key::Enter);
        let Screen::Input(i) = app.screen() else {
            panic!("refused")
        };
        let e = i.error.as_deref().unwrap();
        assert!(
            e.starts_with("env MLX_CONCURRENCY: matrix.concurrency: bad value"),
            "{e}"
        );
        assert!(app.choices.env.is_empty());
        app.key(Key::CtrlU);
        text(&mut app, "MLX_CONCURRENCY=4");
        app.key(Key::Enter);
        assert_eq!(app.choices.env, "MLX_CONCURRENCY=4");
        assert_eq!(app.status.points, Some(1));
    }

    #[test]
    fn bad_server_args_are_the_loaders_error_in_the_input() {
        let t = workspace();
        let mut app = App::new(t.path());
        keys(&mut app, &[Key::Char('5'), Key::Enter]);
        text(&mut app, "--temp '0.5");
        app.key(Key::Enter);
        let Screen::Input(i) = app.screen() else {
            panic!("refused")
        };
        let e = i.error.as_deref().unwrap();
        assert!(e.contains("backend.server_args"), "{e}");
        assert!(app.choices.server_args.is_empty());
        app.key(Key::CtrlU);
        text(&mut app, "--temp 0.5");
        app.key(Key::Enter);
        assert_eq!(app.choices.server_args, "--temp 0.5");
        assert_eq!(app.main_items()[4], "Advanced: --temp 0.5");
    }

    #[test]
    fn the_plan_scrolls_and_run_and_serve_are_actions() {
        let t = workspace();
        let mut app = App::new(t.path());
        keys(&mut app, &[Key::Char('6'), Key::Enter]);
        let Screen::Text { lines, .. } = app.screen() else {
            panic!("no plan: {:?}", app.note)
        };
        assert!(lines[0].starts_with("scenario: a ("), "{lines:?}");
        app.key(Key::PageDown);
        let Screen::Text { scroll, lines, .. } = app.screen() else {
            panic!()
        };
        assert_eq!(*scroll, 10.min(lines.len() - 1));
        app.key(Key::Esc);
        assert_eq!(keys(&mut app, &[Key::Char('7'), Key::Enter]), Action::Run);
        keys(
            &mut app,
            &[Key::Char('8'), Key::Enter, Key::Char('1'), Key::Enter],
        );
        text(&mut app, "0");
        app.key(Key::Enter);
        assert!(matches!(app.screen(), Screen::Input(i) if i.error.is_some()));
        app.key(Key::CtrlU);
        text(&mut app, "3");
        app.key(Key::Enter);
        assert_eq!(app.choices.rr.instances, Some(3));
        assert_eq!(app.rr_items()[0], "Instances: 3");
        assert_eq!(
            keys(&mut app, &[Key::Char('6'), Key::Enter]),
            Action::Serve("up")
        );
        assert_eq!(
            keys(&mut app, &[Key::Char('7'), Key::Enter]),
            Action::Serve("down")
        );
        assert_eq!(
            keys(&mut app, &[Key::Char('8'), Key::Enter]),
            Action::Serve("status")
        );
        keys(&mut app, &[Key::Char('9'), Key::Enter]);
        assert!(matches!(app.screen(), Screen::Main { .. }));
    }
}
