//! Nothing mlxrun starts outlives it, on Linux and macOS alike, even when
//! mlxrun is killed with SIGKILL and can clean up nothing.
//!
//! Every child that must die with mlxrun is started through a small
//! supervisor: mlxrun's own executable, run as `mlxrun __supervise`. The
//! supervisor leads a new process group, starts the real command in that
//! same group (same stdin, stdout, stderr, environment and directory), and
//! holds one end of a socket pair whose other end only mlxrun holds (the
//! *lifeline*). When mlxrun ends — however it ends — the kernel closes its
//! end; the supervisor reads end-of-file and stops the whole group itself:
//! SIGTERM, a grace period, SIGKILL. Linux's parent-death signal is not
//! used: macOS has none, and one mechanism on both systems means the tests
//! run here exercise what a Mac runs.
//!
//! While mlxrun lives, the supervisor is transparent: it reports the
//! command's PID (or why it could not start) over the lifeline, ignores
//! SIGTERM, SIGINT and SIGHUP sent to the group (its command gets them
//! too) and exits with its command's status, signal included.
//!
//! On another host the lifeline is the supervisor's standard input
//! (`mlxrun __supervise --stdin-lifeline …`, started by ssh with a pipe
//! mlxrun holds as its stdin): mlxrun closing it, mlxrun's death and the
//! ssh connection dropping all read as end-of-file there. That form makes
//! itself a group leader when ssh did not, gives its command /dev/null as
//! stdin, and prints its one line to stderr.
//!
//! - [`wire`]: the supervisor's argv and its one-line report (pure).
//! - [`spawn`]: mlxrun's side: a supervised `Command` and its lifeline.
//! - [`watch`]: the supervisor's side: the loop `mlxrun __supervise` runs.

pub mod spawn;
pub mod watch;
pub mod wire;

pub use spawn::{Lifeline, Supervised, set_program};
pub use wire::{LifelineKind, SUBCOMMAND};
