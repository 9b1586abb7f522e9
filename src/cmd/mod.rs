//! One-shot commands beside the run: `mlxrun plan` (what a run would do),
//! `analyze` (sorted tables of a results CSV), `calibrate` (the client's
//! own ceiling on this machine), `init` (a commented starter scenario) and
//! `validate-report` (report and monitor files against their schemas).

pub mod analyze;
pub mod calibrate;
pub mod init;
pub mod plan;
pub mod validate_report;
