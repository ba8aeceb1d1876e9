//! Where reports go: the table or the JSON object on stdout, the progress
//! bar on stderr (only on a terminal, and never with `--json`).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::report::Report;

/// Prints `report` on stdout: the table, or one JSON object.
pub(crate) fn print(report: &Report, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, report)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", report.table())?;
        if report.runs.iter().any(|r| !r.curve.is_empty()) {
            write!(out, "{}", crate::plot::terminal(report))?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Whether `error` is stdout closed by its reader (`rumor swarm | head`):
/// not a failure.
pub(crate) fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind)
                == Some(std::io::ErrorKind::BrokenPipe)
    })
}

/// A progress bar of `len` steps with a status line, drawn on stderr when it
/// is a terminal and `quiet` is off; hidden otherwise.
pub(crate) fn progress(len: u64, unit: &str, quiet: bool) -> ProgressBar {
    let target = if quiet || !std::io::stderr().is_terminal() {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    };
    let bar = ProgressBar::with_draw_target(Some(len), target);
    let template = format!("{{elapsed:>4}} [{{bar:30}}] {{pos}}/{{len}} {unit}  {{msg}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
