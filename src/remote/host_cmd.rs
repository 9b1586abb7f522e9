//! `mlxrun __host …`: the internal commands mlxrun runs on another host
//! over ssh (not in `mlxrun --help`), each answering in JSON lines on
//! stdout:
//! - `leftovers --tag T [--kill] [--grace-ms M]` ([`super::leftovers`]):
//!   exit 0 when nothing tagged is left, 1 when something is;
//! - `ports ADDR PORT…` ([`super::ports`]): exit 0, the answer in the JSON.
//!
//! Bad arguments exit 2, as everywhere in mlxrun.

use std::ffi::OsString;
use std::io::Write;
use std::time::Duration;

use clap::Parser;

/// The hidden subcommand `mlxrun __host …` (dispatched before the CLI).
pub const HOST_SUBCOMMAND: &str = "__host";

#[derive(Debug, Parser)]
#[command(
    name = "mlxrun __host",
    bin_name = "mlxrun __host",
    disable_version_flag = true
)]
struct HostCli {
    #[command(subcommand)]
    command: HostCommand,
}

#[derive(Debug, clap::Subcommand)]
enum HostCommand {
    /// Find the processes whose environment has MLXRUN_TAG starting with
    /// TAG (this process and its parents excluded); with --kill, stop them.
    Leftovers {
        /// The start of the tag's value (not empty).
        #[arg(long, value_parser = clap::builder::NonEmptyStringValueParser::new())]
        tag: String,
        /// SIGTERM each one found (its group too when the group's leader
        /// is tagged), the grace, SIGKILL to what remains, look again.
        #[arg(long)]
        kill: bool,
        /// Milliseconds between SIGTERM and SIGKILL (at most an hour).
        #[arg(long, value_name = "MS", default_value_t = 2000,
              value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
        grace_ms: u64,
    },
    /// Which of these TCP ports can be bound on ADDR.
    Ports {
        /// An IP address or a host name (its first address).
        #[arg(value_name = "ADDR")]
        address: String,
        /// 1 to 65535.
        #[arg(value_name = "PORT", required = true,
              value_parser = clap::value_parser!(u16).range(1..))]
        ports: Vec<u16>,
    },
}

/// Run `mlxrun __host …` (`argv` starts with `__host`); returns the exit
/// code.
pub fn host_main(argv: &[OsString]) -> i32 {
    let cli = match HostCli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => {
            // --help prints to stdout and exits 0; an error exits 2
            let _ = e.print();
            return e.exit_code();
        }
    };
    match cli.command {
        HostCommand::Leftovers {
            tag,
            kill,
            grace_ms,
        } => {
            let (seen, summary) =
                super::leftovers::leftovers(&tag, kill, Duration::from_millis(grace_ms));
            print(&super::leftovers::render(&seen, &summary));
            i32::from(summary.left > 0)
        }
        HostCommand::Ports { address, ports } => {
            match super::ports::check_ports(&address, &ports) {
                Ok(answer) => {
                    print(&format!(
                        "{}\n",
                        serde_json::to_string(&answer).unwrap_or_default()
                    ));
                    0
                }
                Err(e) => {
                    let _ = writeln!(std::io::stderr(), "mlxrun {HOST_SUBCOMMAND} ports: {e}");
                    2
                }
            }
        }
    }
}

/// Write to stdout; a reader gone (ssh dropped) is no reason to panic.
fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> i32 {
        let argv: Vec<OsString> = std::iter::once(HOST_SUBCOMMAND)
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        host_main(&argv)
    }

    fn parse(args: &[&str]) -> Result<HostCommand, clap::Error> {
        HostCli::try_parse_from(std::iter::once(HOST_SUBCOMMAND).chain(args.iter().copied()))
            .map(|c| c.command)
    }

    #[test]
    fn bad_arguments_exit_2() {
        let cases: &[&[&str]] = &[
            &[],
            &["bogus"],
            &["leftovers"],
            &["leftovers", "--tag", ""],
            &["leftovers", "--tag", "t", "--grace-ms", "x"],
            &["leftovers", "--tag", "t", "--grace-ms", "3600001"],
            &["ports", "127.0.0.1"],
            &["ports", "127.0.0.1", "0"],
            &["ports", "127.0.0.1", "65536"],
            &["ports", "no such host.invalid", "8080"],
        ];
        for bad in cases {
            assert_eq!(run(bad), 2, "{bad:?}");
        }
    }

    #[test]
    fn arguments_are_read_with_their_defaults() {
        let HostCommand::Leftovers {
            tag,
            kill,
            grace_ms,
        } = parse(&["leftovers", "--tag", "run-1/"]).unwrap()
        else {
            panic!("not leftovers");
        };
        assert_eq!((tag.as_str(), kill, grace_ms), ("run-1/", false, 2000));
        let HostCommand::Leftovers { kill, grace_ms, .. } =
            parse(&["leftovers", "--kill", "--tag", "t", "--grace-ms", "500"]).unwrap()
        else {
            panic!("not leftovers");
        };
        assert_eq!((kill, grace_ms), (true, 500));
        let HostCommand::Ports { address, ports } =
            parse(&["ports", "10.0.0.2", "8080", "8081"]).unwrap()
        else {
            panic!("not ports");
        };
        assert_eq!((address.as_str(), ports), ("10.0.0.2", vec![8080, 8081]));
    }

    #[test]
    fn nothing_tagged_exits_0_and_ports_exit_0() {
        let tag = format!("absent-{}-", std::process::id());
        assert_eq!(run(&["leftovers", "--tag", &tag, "--kill"]), 0);
        assert_eq!(run(&["ports", "127.0.0.1", "1"]), 0);
    }
}
