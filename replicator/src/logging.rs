//! Tracing setup shared by the binaries: human-readable by default, JSON for log shippers.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `RUST_LOG` (or `default`) selects levels; `json` switches to
/// one JSON object per line. Logs go to stderr so stdout stays free for command output.
pub fn init(default: &str, json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(true);
    // A second init (tests calling run twice) is harmless: keep the first subscriber.
    if json {
        let _ = builder.json().try_init();
    } else {
        let _ = builder.try_init();
    }
}
