//! The terminal while the menus are up: raw mode, the alternate screen and
//! a hidden cursor, restored when the session ends — on return, on error
//! (the guard's `Drop`) and on a panic (a hook that restores first, then
//! runs the hook that was there: mlxrun's, which stops children and exits
//! with 101).

use std::io::{Stdout, Write, stdout};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::crossterm::{cursor, execute, terminal};

use super::app::Key;

/// Whether the menus own the terminal now (what the panic hook restores).
static ACTIVE: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

/// The menus' terminal; dropping it gives the terminal back.
pub struct Session {
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Session {
    /// Take the terminal: raw mode, alternate screen, cursor hidden.
    pub fn start() -> std::io::Result<Session> {
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore();
                previous(info);
            }));
        });
        terminal::enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        execute!(stdout(), terminal::EnterAlternateScreen, cursor::Hide)?;
        let terminal = Terminal::new(CrosstermBackend::new(stdout()))?;
        Ok(Session { terminal })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        restore();
    }
}

/// Give the terminal back (once; a no-op when the menus do not own it).
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = terminal::disable_raw_mode();
        let _ = execute!(stdout(), terminal::LeaveAlternateScreen, cursor::Show);
        let _ = stdout().flush();
    }
}

/// A crossterm key as the launcher's [`Key`] (releases and unknown keys are `None`).
pub fn key_of(ev: KeyEvent) -> Option<Key> {
    if ev.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
    Some(match ev.code {
        KeyCode::Char('c') if ctrl => Key::CtrlC,
        KeyCode::Char('u') if ctrl => Key::CtrlU,
        KeyCode::Char(_) if ctrl => return None,
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        KeyCode::Home => Key::Home,
        KeyCode::End => Key::End,
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Backspace => Key::Backspace,
        _ => return None,
    })
}

/// Wait for Enter (or Esc) after a run, in raw mode so Ctrl-C is a key:
/// `true` to go back to the menu, `false` when Ctrl-C (or `quit()`, a
/// signal) asks to leave.
pub fn wait_for_enter(quit: impl Fn() -> bool) -> std::io::Result<bool> {
    use ratatui::crossterm::event::{Event, poll, read};
    terminal::enable_raw_mode()?;
    let result = loop {
        if quit() {
            break Ok(false);
        }
        match poll(std::time::Duration::from_millis(200))
            .and_then(|ready| if ready { read().map(Some) } else { Ok(None) })
        {
            Ok(Some(Event::Key(ev))) => match key_of(ev) {
                Some(Key::Enter | Key::Esc) => break Ok(true),
                Some(Key::CtrlC) => break Ok(false),
                _ => {}
            },
            Ok(_) => {}
            Err(e) => break Err(e),
        }
    };
    let _ = terminal::disable_raw_mode();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_with_ctrl_c_and_ctrl_u_apart() {
        let k = |code, m| key_of(KeyEvent::new(code, m));
        assert_eq!(
            k(KeyCode::Char('c'), KeyModifiers::CONTROL),
            Some(Key::CtrlC)
        );
        assert_eq!(
            k(KeyCode::Char('c'), KeyModifiers::NONE),
            Some(Key::Char('c'))
        );
        assert_eq!(
            k(KeyCode::Char('u'), KeyModifiers::CONTROL),
            Some(Key::CtrlU)
        );
        assert_eq!(k(KeyCode::Char('x'), KeyModifiers::CONTROL), None);
        assert_eq!(k(KeyCode::Esc, KeyModifiers::NONE), Some(Key::Esc));
        assert_eq!(k(KeyCode::F(5), KeyModifiers::NONE), None);
    }
}
