//! Drawing the launcher's screens with ratatui: a title line, the screen
//! on top of the stack, and a status box (the scenario's point count or
//! the loader's error, a note, the keys).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, List, ListItem, ListState, Paragraph, Wrap};

use super::app::{App, MODEL_SOURCES, Screen};
use super::browser::human_bytes;

/// Draw `app` into the frame.
pub fn draw(f: &mut Frame, app: &App) {
    let [title, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(5),
        Constraint::Length(7),
    ])
    .areas(f.area());
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(
                " mlxrun launcher ",
                Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED),
            ),
            Span::raw(format!(" {}", app.cwd.display())),
        ])),
        title,
    );
    let keys = match app.screen() {
        Screen::Main { .. } => "↑/↓ or 1-9 move · Enter choose · Esc/q quit · Ctrl-C quit",
        Screen::Input(_) => "type · Enter accept · Esc cancel · Ctrl-U clear · Ctrl-C quit",
        Screen::Text { .. } => "↑/↓ PgUp/PgDn Home/End scroll · Esc back",
        _ => "↑/↓ move · Enter choose · Esc back · Ctrl-C quit",
    };
    match app.screen() {
        Screen::Main { sel } => list(f, body, "Main menu", app.main_items(), *sel),
        Screen::Scenarios { list: l, sel } => {
            let items = l
                .iter()
                .map(|e| {
                    let path = e.path.strip_prefix(&app.cwd).unwrap_or(&e.path).display();
                    if e.description.is_empty() {
                        format!("{}  ({path})", e.name)
                    } else {
                        format!("{} — {}  ({path})", e.name, e.description)
                    }
                })
                .collect();
            list(f, body, "Scenario (./scenarios/*.toml)", items, *sel);
        }
        Screen::ModelSource { sel } => {
            let keep = app
                .status
                .value("model.path")
                .map(|v| format!("{} ({v})", MODEL_SOURCES[3]))
                .unwrap_or_else(|| MODEL_SOURCES[3].to_string());
            let mut items: Vec<String> = MODEL_SOURCES[..3].iter().map(|s| s.to_string()).collect();
            items.push(keep);
            list(f, body, "Model source", items, *sel);
        }
        Screen::Browser(b) => {
            let mut items: Vec<String> = b
                .entries
                .iter()
                .map(|e| {
                    if e.is_model {
                        format!("{}  <MLX Model>", e.label)
                    } else {
                        format!("{}/  <DIR>", e.label)
                    }
                })
                .collect();
            if let Some(err) = &b.error {
                items.push(err.clone());
            }
            list(
                f,
                body,
                &format!("Browse: {} (Enter on a model selects it)", b.dir.display()),
                items,
                b.sel,
            );
        }
        Screen::HfCache { dir, list: l, sel } => {
            let where_ = dir
                .as_deref()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|| "(no HOME, HF_HOME or HF_HUB_CACHE)".into());
            let items = if l.is_empty() {
                vec![format!("no models--ORG--NAME folders in {where_}")]
            } else {
                l.iter()
                    .map(|m| format!("{}  ({})", m.repo, human_bytes(m.bytes)))
                    .collect()
            };
            list(
                f,
                body,
                &format!("Hugging Face cache: {where_}"),
                items,
                *sel,
            );
        }
        Screen::Tokens { sel } => list(f, body, "Tokens", app.tokens_items(), *sel),
        Screen::RoundRobin { sel } => list(
            f,
            body,
            "Round-robin servers (mlxrun serve)",
            app.rr_items(),
            *sel,
        ),
        Screen::Input(i) => {
            let [field, hint] =
                Layout::vertical([Constraint::Length(3), Constraint::Min(2)]).areas(body);
            f.render_widget(
                Paragraph::new(i.value.as_str()).block(Block::bordered().title(i.title.as_str())),
                field,
            );
            let width = i.value.chars().count() as u16;
            f.set_cursor_position(Position::new(
                (field.x + 1 + width).min(field.right().saturating_sub(2)),
                field.y + 1,
            ));
            let mut lines = vec![Line::raw(i.hint.as_str())];
            if let Some(e) = &i.error {
                lines.push(Line::raw(""));
                for l in e.lines() {
                    lines.push(Line::styled(l.to_string(), Style::new().fg(Color::Red)));
                }
            }
            f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), hint);
        }
        Screen::Text {
            title: t,
            lines,
            scroll,
        } => {
            f.render_widget(
                Paragraph::new(
                    lines
                        .iter()
                        .map(|l| Line::raw(l.as_str()))
                        .collect::<Vec<_>>(),
                )
                .block(Block::bordered().title(t.as_str()))
                .scroll((u16::try_from(*scroll).unwrap_or(u16::MAX), 0)),
                body,
            );
        }
    }
    let mut lines = Vec::new();
    let status_line = app.status_line();
    let style = if app.status.error.is_some() {
        Style::new().fg(Color::Red)
    } else {
        Style::new().fg(Color::Green)
    };
    for l in status_line.lines() {
        lines.push(Line::styled(l.to_string(), style));
    }
    if let Some(n) = &app.note {
        for l in n.lines() {
            lines.push(Line::styled(l.to_string(), Style::new().fg(Color::Yellow)));
        }
    }
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(keys)),
        status,
    );
}

fn list(f: &mut Frame, area: Rect, title: &str, items: Vec<String>, sel: usize) {
    let items: Vec<ListItem> = items.into_iter().map(ListItem::new).collect();
    let mut state = ListState::default().with_selected(Some(sel));
    f.render_stateful_widget(
        List::new(items)
            .block(Block::bordered().title(title))
            .highlight_style(Style::new().add_modifier(Modifier::REVERSED))
            .highlight_symbol("> "),
        area,
        &mut state,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn screen(app: &App) -> String {
        let mut t = Terminal::new(TestBackend::new(100, 24)).unwrap();
        t.draw(|f| draw(f, app)).unwrap();
        let buf = t.backend().buffer().clone();
        let mut out = String::new();
        for y in 0..buf.area.height {
            for x in 0..buf.area.width {
                out.push_str(buf[(x, y)].symbol());
            }
            out.push('\n');
        }
        out
    }

    #[test]
    fn the_main_menu_shows_every_line_and_the_status() {
        let t = tempfile::tempdir().unwrap();
        let app = App::new(t.path());
        let s = screen(&app);
        for l in [
            "Scenario: (none)",
            "Model:",
            "Tokens:",
            "Env: (none)",
            "Advanced: (none)",
            "Show plan",
            "Run",
            "Round-robin servers…",
            "Exit",
            "error: no scenario chosen",
        ] {
            assert!(s.contains(l), "{l:?} missing in\n{s}");
        }
    }
}
