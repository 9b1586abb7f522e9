//! The interactive launcher: `mlxrun` with no arguments on a terminal (or
//! `mlxrun launch`). Menus pick a scenario from `./scenarios/`, a model (a
//! Hugging Face repo id, a local folder, the Hugging Face cache), tokens,
//! concurrency, environment overrides and server arguments; show the plan;
//! run it in-process with the equivalent command line printed; start, stop
//! and check round-robin servers (`mlxrun serve`). Choices are kept in
//! `.mlxrun/launcher.json`. Without a terminal it prints the usage and
//! exits 2 at once.
//!
//! - [`choices`]: the choices and what they become (sets, env, command line).
//! - [`app`]: the state machine (screens, keys, actions), no terminal.
//! - [`picker`], [`browser`]: scenario files, model folders, the HF cache.
//! - [`store`]: the saved choices (`.mlxrun/launcher.json`).
//! - [`ui`]: drawing; [`term`]: the terminal session and its restoring.
//! - [`run`], [`serve`]: what runs outside the menus.

pub mod app;
pub mod browser;
pub mod choices;
pub mod picker;
pub mod run;
pub mod serve;
pub mod store;
pub mod term;
pub mod ui;

use std::io::IsTerminal;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use ratatui::crossterm::event::{self, Event};

use crate::error::{EXIT_BAD_INPUT, EXIT_INTERRUPTED};
use app::{Action, App};

/// Set (to anything), the launcher panics as it first draws its menu, to
/// test that a panic gives the terminal back. Neither `MLX_…` nor
/// `MLXRUN_…`, so no scenario override sets it.
pub const PANIC_IN_MENU_VAR: &str = "_MLXRUN_FAULT_PANIC_IN_LAUNCHER";

/// A signal that arrived while the menus were up (0: none).
static QUIT_SIGNAL: AtomicI32 = AtomicI32::new(0);

/// The short usage printed when there is no terminal for the launcher.
pub fn usage(explicit: bool) -> String {
    let why = if explicit {
        "mlxrun launch needs a terminal: stdin and stdout must both be one"
    } else {
        "no scenario given, and no terminal for the interactive launcher"
    };
    format!(
        "usage: mlxrun SCENARIO [--set KEY=VALUE]...   run a scenario
       mlxrun launch                          the interactive launcher (on a terminal)
       mlxrun COMMAND ...                     plan, validate, resume, report, analyze, ...

Examples:
  mlxrun scenarios/quickstart.toml
  MLX_MAX_TOKENS=256 mlxrun scenarios/single.toml
  mlxrun run scenarios/full_sweep.toml --set matrix.concurrency=1,8,64
  mlxrun plan scenarios/full_sweep.toml

{why}
  next: mlxrun scenarios/quickstart.toml, or mlxrun --help for every command and the exit codes
"
    )
}

/// `mlxrun` without arguments (`explicit`: `mlxrun launch`): the launcher
/// on a terminal, else the usage and exit 2.
pub async fn start(explicit: bool) -> anyhow::Result<i32> {
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        eprint!("{}", usage(explicit));
        return Ok(EXIT_BAD_INPUT);
    }
    let cwd = std::env::current_dir()?;
    let mut app = App::new(&cwd);
    let _watch = watch_signals()?;
    loop {
        match menus(&mut app)? {
            Action::Quit(code) => return Ok(code),
            Action::None => {}
            Action::Run => {
                run::run(&app).await;
                if !back_to_menu()? {
                    return Ok(EXIT_INTERRUPTED);
                }
            }
            Action::Serve(verb) => {
                serve::serve(&app, verb).await;
                if !back_to_menu()? {
                    return Ok(EXIT_INTERRUPTED);
                }
            }
        }
        app.refresh();
    }
}

/// "Press Enter to return to the menu"; `false` after Ctrl-C.
fn back_to_menu() -> std::io::Result<bool> {
    println!("Press Enter to return to the menu (Ctrl-C leaves)");
    term::wait_for_enter(|| QUIT_SIGNAL.load(Ordering::SeqCst) != 0)
}

/// The menus, until an action needs the terminal back.
fn menus(app: &mut App) -> anyhow::Result<Action> {
    let mut session = term::Session::start()?;
    let mut first = true;
    loop {
        let sig = QUIT_SIGNAL.swap(0, Ordering::SeqCst);
        if sig != 0 {
            return Ok(Action::Quit(EXIT_INTERRUPTED));
        }
        session.terminal.draw(|f| ui::draw(f, app))?;
        if first && std::env::var_os(PANIC_IN_MENU_VAR).is_some() {
            panic!("{PANIC_IN_MENU_VAR} is set: a panic asked for in the launcher's menu");
        }
        first = false;
        if !event::poll(Duration::from_millis(200))? {
            continue;
        }
        if let Event::Key(k) = event::read()?
            && let Some(key) = term::key_of(k)
        {
            match app.key(key) {
                Action::None => {}
                a => return Ok(a),
            }
        }
    }
}

/// SIGINT or SIGTERM while the menus are up (not from the keyboard: raw
/// mode turns Ctrl-C into a key) leaves the launcher; during a run the
/// run's own listener has them. Ends when the returned guard drops.
fn watch_signals() -> std::io::Result<AbortOnDrop> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    Ok(AbortOnDrop(tokio::spawn(async move {
        loop {
            let sig = tokio::select! {
                _ = int.recv() => libc::SIGINT,
                _ = term.recv() => libc::SIGTERM,
            };
            if !run::BUSY.load(Ordering::SeqCst) {
                QUIT_SIGNAL.store(sig, Ordering::SeqCst);
            }
        }
    })))
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
