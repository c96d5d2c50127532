//! Progress bars on a terminal (indicatif, on stderr), nothing when stderr is not a terminal or
//! with `--json`. Shows secret names, never values.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use secretsnap::engine::{Progress, Silent};

use super::Global;

struct Bar(std::sync::Mutex<Option<ProgressBar>>);

impl Progress for Bar {
    fn start(&self, phase: &str, n: usize) {
        let bar = ProgressBar::new(n as u64).with_style(
            ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} {wide_msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(phase.to_string());
        *self.0.lock().expect("progress lock") = Some(bar);
    }

    fn more(&self, n: usize) {
        if let Some(b) = self.0.lock().expect("progress lock").as_ref() {
            b.inc_length(n as u64);
        }
    }

    fn advance(&self, secret: &str) {
        if let Some(b) = self.0.lock().expect("progress lock").as_ref() {
            b.set_message(secret.to_string());
            b.inc(1);
        }
    }

    fn finish(&self) {
        if let Some(b) = self.0.lock().expect("progress lock").take() {
            b.finish_and_clear();
        }
    }
}

/// A progress bar when it would be seen, else silence.
pub fn for_run(g: &Global) -> Box<dyn Progress> {
    if !g.json && std::io::stderr().is_terminal() {
        Box::new(Bar(std::sync::Mutex::new(None)))
    } else {
        Box::new(Silent)
    }
}
