//! What a run writes: the results CSV (`csv_sink`), the JSONL report
//! (`report`), the shared row type (`row`), and console progress (`progress`).

pub mod csv_sink;
pub mod model_info;
pub mod paths;
pub mod progress;
pub mod quality;
pub mod report;
pub mod row;
pub mod system_info;
