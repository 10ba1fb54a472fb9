//! Progress bars on stderr for the long-running commands (`run`, `backfill`, `reprocess`).
//!
//! Shown only when stderr is a terminal: in CI logs, pipes and tests the bar is hidden and
//! nothing but the commands' own summary lines reach stderr.

use std::io::IsTerminal as _;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// A bar over `len` units (`what` names them), or a spinner counting them when `len` is `None`.
pub(super) fn bar(len: Option<u64>, what: &str) -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let (bar, template) = match len {
        Some(len) => (
            ProgressBar::with_draw_target(Some(len), target),
            format!("{{elapsed_precise}} [{{bar:30}}] {{pos}}/{{len}} {what} {{msg}}"),
        ),
        None => (
            ProgressBar::with_draw_target(None, target),
            format!("{{spinner}} {{elapsed_precise}} {{human_pos}} {what} ({{rate}}) {{msg}}"),
        ),
    };
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(
            style
                .with_key(
                    "rate",
                    |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{:.0}/s", state.per_sec());
                    },
                )
                .progress_chars("=> "),
        );
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
