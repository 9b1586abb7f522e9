//! What passes between mlxrun and a supervisor: the supervisor's argv
//! (`__supervise --lifeline-fd N --grace-ms M -- CMD…` on this machine,
//! `__supervise --stdin-lifeline --grace-ms M -- CMD…` on another host,
//! started by ssh) and the one line it writes once the command has
//! started, or failed to (`started PID` / `failed ERRNO MESSAGE`: over the
//! lifeline, or to stderr in the stdin form). Pure, so both ends are
//! tested on every platform.

use std::ffi::OsString;
use std::time::Duration;

/// The hidden subcommand that turns the mlxrun executable into a supervisor.
pub const SUBCOMMAND: &str = "__supervise";

/// The longest grace a supervisor accepts (an hour): longer is a mistake.
pub const MAX_GRACE: Duration = Duration::from_secs(3600);

/// What tells a supervisor that mlxrun is gone: end-of-file (or a read
/// error) on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifelineKind {
    /// The supervisor's end of a socket pair whose other end only mlxrun
    /// holds (a supervisor on this machine): this file descriptor.
    Socket(i32),
    /// The supervisor's own standard input (a supervisor started on
    /// another host by ssh, whose stdin is a pipe mlxrun holds).
    Stdin,
}

/// A supervisor's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// Where the lifeline is.
    pub lifeline: LifelineKind,
    /// Time between SIGTERM and SIGKILL when the lifeline breaks.
    pub grace: Duration,
    /// The command to run, as argv (no shell).
    pub command: Vec<OsString>,
}

impl Args {
    /// The arguments after the program name: `__supervise … -- CMD…`.
    pub fn to_argv(&self) -> Vec<OsString> {
        let mut v: Vec<OsString> = vec![SUBCOMMAND.into()];
        match self.lifeline {
            LifelineKind::Socket(fd) => {
                v.extend(["--lifeline-fd".into(), fd.to_string().into()]);
            }
            LifelineKind::Stdin => v.push("--stdin-lifeline".into()),
        }
        v.extend([
            "--grace-ms".into(),
            self.grace.min(MAX_GRACE).as_millis().to_string().into(),
            "--".into(),
        ]);
        v.extend(self.command.iter().cloned());
        v
    }

    /// Parse the arguments after the program name (the inverse of
    /// [`Args::to_argv`]).
    pub fn parse(argv: &[OsString]) -> Result<Args, String> {
        let mut it = argv.iter();
        if it.next().and_then(|s| s.to_str()) != Some(SUBCOMMAND) {
            return Err(format!("the first argument must be {SUBCOMMAND}"));
        }
        let mut lifeline_fd = None;
        let mut stdin_lifeline = false;
        let mut grace = None;
        loop {
            let Some(flag) = it.next() else {
                return Err("no `--` before the command".into());
            };
            let flag = flag.to_str().unwrap_or_default();
            if flag == "--" {
                break;
            }
            if flag == "--stdin-lifeline" {
                stdin_lifeline = true;
                continue;
            }
            let value = it
                .next()
                .and_then(|v| v.to_str())
                .ok_or_else(|| format!("{flag} needs a value"))?;
            match flag {
                "--lifeline-fd" => {
                    let fd: i32 = value
                        .parse()
                        .map_err(|_| format!("--lifeline-fd {value:?} is not a number"))?;
                    if fd < 3 {
                        return Err(format!("--lifeline-fd {fd} is a standard stream"));
                    }
                    lifeline_fd = Some(fd);
                }
                "--grace-ms" => {
                    let ms: u64 = value
                        .parse()
                        .map_err(|_| format!("--grace-ms {value:?} is not a number"))?;
                    grace = Some(Duration::from_millis(ms).min(MAX_GRACE));
                }
                other => return Err(format!("unknown flag {other:?}")),
            }
        }
        let command: Vec<OsString> = it.cloned().collect();
        if command.is_empty() {
            return Err("no command after `--`".into());
        }
        let lifeline = match (lifeline_fd, stdin_lifeline) {
            (Some(fd), false) => LifelineKind::Socket(fd),
            (None, true) => LifelineKind::Stdin,
            (Some(_), true) => {
                return Err("--lifeline-fd and --stdin-lifeline exclude each other".into());
            }
            (None, false) => return Err("--lifeline-fd or --stdin-lifeline is required".into()),
        };
        Ok(Args {
            lifeline,
            grace: grace.ok_or("--grace-ms is required")?,
            command,
        })
    }
}

/// What the supervisor reports once, right after trying to start its
/// command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// The command runs with this PID.
    Started(i32),
    /// It could not start: the OS error number when there is one.
    Failed { errno: Option<i32>, message: String },
}

impl Report {
    /// One line, newline included.
    pub fn encode(&self) -> String {
        match self {
            Report::Started(pid) => format!("started {pid}\n"),
            Report::Failed { errno, message } => {
                let message = message.replace(['\n', '\r'], " ");
                format!("failed {} {message}\n", errno.unwrap_or(-1))
            }
        }
    }

    /// Read a line written by [`Report::encode`].
    pub fn decode(line: &str) -> Result<Report, String> {
        let line = line.trim_end_matches(['\n', '\r']);
        if let Some(pid) = line.strip_prefix("started ") {
            return match pid.parse::<i32>() {
                Ok(p) if p > 0 => Ok(Report::Started(p)),
                _ => Err(format!("a bad PID in the supervisor's report {line:?}")),
            };
        }
        if let Some(rest) = line.strip_prefix("failed ") {
            let (errno, message) = rest.split_once(' ').unwrap_or((rest, ""));
            let errno: i32 = errno
                .parse()
                .map_err(|_| format!("a bad error number in the supervisor's report {line:?}"))?;
            return Ok(Report::Failed {
                errno: (errno > 0).then_some(errno),
                message: message.to_string(),
            });
        }
        Err(format!(
            "an unreadable report from the supervisor: {line:?}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn args_round_trip_and_keep_the_command_verbatim() {
        let a = Args {
            lifeline: LifelineKind::Socket(7),
            grace: Duration::from_millis(2500),
            command: os(&["python", "-m", "mlx_lm.server", "--", "--port", "9100"]),
        };
        let argv = a.to_argv();
        assert_eq!(
            argv[..6],
            os(&[
                "__supervise",
                "--lifeline-fd",
                "7",
                "--grace-ms",
                "2500",
                "--"
            ])[..]
        );
        assert_eq!(Args::parse(&argv).unwrap(), a);
    }

    #[test]
    fn the_stdin_form_round_trips() {
        let a = Args {
            lifeline: LifelineKind::Stdin,
            grace: Duration::from_millis(500),
            command: os(&["sleep", "--stdin-lifeline", "30"]),
        };
        let argv = a.to_argv();
        assert_eq!(
            argv,
            os(&[
                "__supervise",
                "--stdin-lifeline",
                "--grace-ms",
                "500",
                "--",
                "sleep",
                "--stdin-lifeline",
                "30"
            ])
        );
        assert_eq!(Args::parse(&argv).unwrap(), a);
        // the flags may come in any order before `--`
        let b = Args::parse(&os(&[
            "__supervise",
            "--grace-ms",
            "500",
            "--stdin-lifeline",
            "--",
            "sleep",
            "--stdin-lifeline",
            "30",
        ]))
        .unwrap();
        assert_eq!(b, a);
    }

    #[test]
    fn bad_args_are_refused_with_a_reason() {
        let cases: &[(&[&str], &str)] = &[
            (&["x"], "must be __supervise"),
            (
                &["__supervise", "--grace-ms", "1", "--", "sleep"],
                "--lifeline-fd or --stdin-lifeline is required",
            ),
            (
                &[
                    "__supervise",
                    "--stdin-lifeline",
                    "--lifeline-fd",
                    "4",
                    "--grace-ms",
                    "1",
                    "--",
                    "sleep",
                ],
                "exclude each other",
            ),
            (
                &["__supervise", "--stdin-lifeline", "--", "sleep"],
                "--grace-ms is required",
            ),
            (
                &["__supervise", "--stdin-lifeline", "--grace-ms", "1", "--"],
                "no command",
            ),
            (
                &["__supervise", "--stdin-lifeline", "--grace-ms", "1"],
                "no `--`",
            ),
            (
                &[
                    "__supervise",
                    "--stdin-lifeline",
                    "--grace-ms",
                    "-1",
                    "--",
                    "x",
                ],
                "not a number",
            ),
            (
                &["__supervise", "--lifeline-fd", "4", "--", "sleep"],
                "--grace-ms is required",
            ),
            (
                &[
                    "__supervise",
                    "--lifeline-fd",
                    "2",
                    "--grace-ms",
                    "1",
                    "--",
                    "x",
                ],
                "standard stream",
            ),
            (
                &[
                    "__supervise",
                    "--lifeline-fd",
                    "x",
                    "--grace-ms",
                    "1",
                    "--",
                    "x",
                ],
                "not a number",
            ),
            (
                &["__supervise", "--lifeline-fd", "4", "--grace-ms", "1", "--"],
                "no command",
            ),
            (
                &["__supervise", "--lifeline-fd", "4", "--grace-ms"],
                "needs a value",
            ),
            (&["__supervise", "--lifeline-fd", "4"], "no `--`"),
            (&["__supervise", "--bogus", "4", "--", "x"], "unknown flag"),
        ];
        for (argv, want) in cases {
            let e = Args::parse(&os(argv)).unwrap_err();
            assert!(e.contains(want), "{argv:?}: {e}");
        }
    }

    #[test]
    fn grace_is_capped() {
        let a = Args::parse(&os(&[
            "__supervise",
            "--lifeline-fd",
            "3",
            "--grace-ms",
            "99999999999",
            "--",
            "x",
        ]))
        .unwrap();
        assert_eq!(a.grace, MAX_GRACE);
    }

    #[test]
    fn reports_round_trip() {
        for r in [
            Report::Started(4242),
            Report::Failed {
                errno: Some(2),
                message: "No such file or directory (os error 2)".into(),
            },
            Report::Failed {
                errno: None,
                message: "empty command".into(),
            },
        ] {
            let line = r.encode();
            assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
            assert_eq!(Report::decode(&line).unwrap(), r);
        }
        let two_lines = Report::Failed {
            errno: Some(13),
            message: "a\nb".into(),
        };
        assert_eq!(
            Report::decode(&two_lines.encode()).unwrap(),
            Report::Failed {
                errno: Some(13),
                message: "a b".into()
            }
        );
        assert!(Report::decode("started -1").is_err());
        assert!(Report::decode("started x").is_err());
        assert!(Report::decode("failed x y").is_err());
        assert!(Report::decode("").unwrap_err().contains("unreadable"));
    }
}
