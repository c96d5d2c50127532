//! The scheduler with an injected clock and a recording runner: due jobs run, a failing job does
//! not stop the others, a missed window is caught up once (not once per missed firing), jitter
//! is stable and bounded, SIGTERM (the stop signal) lets the running job finish and starts no
//! other; and configuration errors name the file, the line and the key.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use secretsnap::sla::config::Config;
use secretsnap::sla::outcome::{Finished, Outcome};
use secretsnap::sla::scheduler::{jitter_for, jobs, Clock, Job, Runner, Scheduler};
use secretsnap::sla::state::State;
use tokio::sync::{watch, Notify};

const CONFIG: &str = r#"
[repositories.main]
url = "/tmp/never-opened"
password = { env = "SECRETSNAP_TEST_PASSWORD" }

[sources.prod]
url = "scaleway://fr-par/aaaaaaaa-1111-4000-8000-00000000000a"
repository = "main"
environment = "production"
data_classes = ["critical"]

[sources.staging]
url = "scaleway://fr-par/bbbbbbbb-1111-4000-8000-00000000000b"
repository = "main"
environment = "staging"
data_classes = ["internal"]

[policies.prod]
scope = { environment = "production" }
every = "1h"
keep = { last = 3 }
check = { every = "1d", read_data = "10%" }

[policies.staging]
scope = { environment = "staging" }
cron = "0 3 * * *"
keep = { daily = 7 }
"#;

fn config() -> Config {
    Config::parse(Path::new("test.toml"), CONFIG).unwrap()
}

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

struct FakeClock(Mutex<DateTime<Utc>>);

#[async_trait::async_trait]
impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
    async fn sleep_until(&self, t: DateTime<Utc>, stop: &mut watch::Receiver<bool>) {
        if !*stop.borrow() {
            *self.0.lock().unwrap() = t;
        }
    }
}

#[derive(Default)]
struct Recorder {
    ran: Mutex<Vec<String>>,
    fail: HashSet<String>,
    /// Jobs that wait for `release` after announcing themselves on `started`.
    gated: HashSet<String>,
    started: Notify,
    release: Notify,
}

#[async_trait::async_trait]
impl Runner for Recorder {
    async fn run(&self, job: &Job) -> Finished {
        if self.gated.contains(&job.name) {
            self.started.notify_one();
            self.release.notified().await;
        }
        self.ran.lock().unwrap().push(job.name.clone());
        if self.fail.contains(&job.name) {
            Finished::new(Outcome::Failed, "exit code 1")
        } else {
            Finished::ok()
        }
    }
}

fn scheduler<'a>(
    runner: &'a Recorder,
    clock: &'a FakeClock,
    parallel: usize,
    save: &'a (dyn Fn(&State) + Send + Sync),
) -> Scheduler<'a> {
    scheduler_of(&config(), runner, clock, parallel, save)
}

fn scheduler_of<'a>(
    cfg: &Config,
    runner: &'a dyn Runner,
    clock: &'a FakeClock,
    parallel: usize,
    save: &'a (dyn Fn(&State) + Send + Sync),
) -> Scheduler<'a> {
    Scheduler {
        jobs: jobs(cfg),
        runner,
        clock,
        parallel,
        jitter: Duration::ZERO,
        last_snapshots: HashMap::new(),
        on_run: save,
    }
}

fn sorted(v: &Mutex<Vec<String>>) -> Vec<String> {
    let mut v = v.lock().unwrap().clone();
    v.sort();
    v
}

#[tokio::test]
async fn due_jobs_run_and_a_failure_does_not_stop_the_others() {
    let cfg = config();
    let names: Vec<String> = jobs(&cfg).iter().map(|j| j.name.clone()).collect();
    assert_eq!(
        names,
        ["backup:prod", "backup:staging", "prune:main", "check:main"]
    );
    let runner = Recorder {
        fail: ["backup:prod".to_string()].into(),
        ..Default::default()
    };
    let clock = FakeClock(Mutex::new(t("2026-11-23T10:00:00Z")));
    let saves = Mutex::new(0);
    let save = |_: &State| *saves.lock().unwrap() += 1;
    let s = scheduler(&runner, &clock, 2, &save);
    let (_stop_tx, stop) = watch::channel(false);
    let mut state = State::default();

    // Nothing has ever run: everything is due.
    let runs = s.once(&mut state, &stop).await;
    assert_eq!(runs.len(), 4);
    assert_eq!(
        sorted(&runner.ran),
        ["backup:prod", "backup:staging", "check:main", "prune:main"]
    );
    assert_eq!(
        *saves.lock().unwrap(),
        4,
        "every outcome is saved as it ends"
    );
    assert_eq!(
        state.jobs["backup:prod"].last_outcome,
        Some(Outcome::Failed)
    );
    assert_eq!(state.jobs["backup:prod"].last_success, None);
    assert!(state.jobs["backup:staging"].last_success.is_some());

    // 30 minutes later nothing is due; an hour later only the hourly backup is.
    *clock.0.lock().unwrap() = t("2026-11-23T10:30:00Z");
    assert!(s.once(&mut state, &stop).await.is_empty());
    *clock.0.lock().unwrap() = t("2026-11-23T11:00:00Z");
    let runs = s.once(&mut state, &stop).await;
    assert_eq!(
        runs.iter().map(|r| r.job.as_str()).collect::<Vec<_>>(),
        ["backup:prod"]
    );
    // 03:00 the next day: staging's cron window and prod's hour; at 10:00 the daily check and
    // prune too.
    *clock.0.lock().unwrap() = t("2026-11-24T03:00:00Z");
    let due: Vec<String> = s.due(&state).iter().map(|j| j.name.clone()).collect();
    assert_eq!(due, ["backup:prod", "backup:staging"]);
    *clock.0.lock().unwrap() = t("2026-11-24T10:00:00Z");
    let due: Vec<String> = s.due(&state).iter().map(|j| j.name.clone()).collect();
    assert_eq!(
        due,
        ["backup:prod", "backup:staging", "prune:main", "check:main"]
    );
}

#[tokio::test]
async fn a_missed_window_is_caught_up_once() {
    let runner = Recorder::default();
    let clock = FakeClock(Mutex::new(t("2026-11-01T03:00:00Z")));
    let save = |_: &State| {};
    let s = scheduler(&runner, &clock, 1, &save);
    let (_tx, stop) = watch::channel(false);
    let mut state = State::default();
    s.once(&mut state, &stop).await;
    runner.ran.lock().unwrap().clear();
    // The agent was down for a week: seven 03:00 windows of staging were missed.
    *clock.0.lock().unwrap() = t("2026-11-08T12:00:00Z");
    s.once(&mut state, &stop).await;
    s.once(&mut state, &stop).await;
    let ran = runner.ran.lock().unwrap().clone();
    assert_eq!(
        ran.iter().filter(|j| *j == "backup:staging").count(),
        1,
        "{ran:?}"
    );
    assert_eq!(
        ran.iter().filter(|j| *j == "backup:prod").count(),
        1,
        "{ran:?}"
    );
    // A snapshot made outside the scheduler counts as the last run.
    let mut s2 = scheduler(&runner, &clock, 1, &save);
    s2.last_snapshots
        .insert("backup:prod".into(), t("2026-11-08T11:59:00Z"));
    let fresh = State::default();
    assert!(!s2.due(&fresh).iter().any(|j| j.name == "backup:prod"));
}

#[test]
fn jitter_is_stable_and_bounded() {
    let max = Duration::from_secs(300);
    for job in ["backup:prod", "backup:staging", "check:main"] {
        let j = jitter_for(job, max);
        assert!(j < max);
        assert_eq!(j, jitter_for(job, max));
    }
    assert_ne!(
        jitter_for("backup:prod", max),
        jitter_for("backup:staging", max)
    );
    assert_eq!(jitter_for("backup:prod", Duration::ZERO), Duration::ZERO);
}

#[tokio::test]
async fn sigterm_lets_the_running_job_finish_and_starts_no_other() {
    let runner = Arc::new(Recorder {
        gated: ["backup:prod".to_string()].into(),
        ..Default::default()
    });
    let clock = Arc::new(FakeClock(Mutex::new(t("2026-11-23T10:00:00Z"))));
    let (stop_tx, stop) = watch::channel(false);
    let (r2, c2) = (runner.clone(), clock.clone());
    let task = tokio::spawn(async move {
        let save = |_: &State| {};
        let mut s = scheduler(&r2, &c2, 1, &save);
        let mut state = State::default();
        let (_reload_tx, reload) = tokio::sync::mpsc::unbounded_channel();
        s.run(&mut state, stop, reload).await;
        state
    });
    runner.started.notified().await; // backup:prod is running
    stop_tx.send(true).unwrap(); // SIGTERM
    runner.release.notify_one(); // the job finishes on its own time
    let state = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the scheduler returns after the running job")
        .unwrap();
    assert_eq!(*runner.ran.lock().unwrap(), ["backup:prod"]);
    assert_eq!(state.jobs["backup:prod"].last_outcome, Some(Outcome::Ok));
    assert_eq!(state.jobs.len(), 1, "no job started after the stop");
}

#[test]
fn configuration_errors_name_file_line_and_key() {
    let cases = [
        (
            CONFIG.replace(
                "password = { env = \"SECRETSNAP_TEST_PASSWORD\" }",
                "password = \"hunter2\"",
            ),
            "repositories.main.password",
            4,
        ),
        (
            CONFIG.replace(
                "repository = \"main\"\nenvironment = \"staging\"",
                "repository = \"backup\"\nenvironment = \"staging\"",
            ),
            "sources.staging.repository",
            14,
        ),
        (
            CONFIG.replace("every = \"1h\"", "every = \"hourly\""),
            "policies.prod.every",
            20,
        ),
        (
            CONFIG.replace("cron = \"0 3 * * *\"", "cron = \"0 25 * * *\""),
            "policies.staging.cron",
            26,
        ),
        (
            CONFIG.replace("keep = { last = 3 }", "keep = { last = 3, forever = true }"),
            "",
            21,
        ),
        (
            CONFIG.replace(
                "scope = { environment = \"staging\" }",
                "scope = { environment = \"production\" }",
            ),
            "sources.prod",
            0,
        ),
    ];
    for (text, key, line) in cases {
        let err = Config::parse(Path::new("/etc/secretsnap/config.toml"), &text).unwrap_err();
        let shown = err.to_string();
        assert!(shown.starts_with("/etc/secretsnap/config.toml:"), "{shown}");
        assert_eq!(err.key, key, "{shown}");
        assert_eq!(err.line, line, "{shown}");
        eprintln!("{shown}");
        assert!(
            !shown.contains("hunter2"),
            "a literal secret is never echoed: {shown}"
        );
    }
}

/// Records, per repository, whether an exclusive job ever overlapped another job of it.
#[derive(Default)]
struct LockWatcher {
    running: Mutex<HashMap<String, Vec<bool>>>,
    overlaps: Mutex<Vec<String>>,
    order: Mutex<Vec<String>>,
    peak: Mutex<usize>,
}

#[async_trait::async_trait]
impl Runner for LockWatcher {
    async fn run(&self, job: &Job) -> Finished {
        {
            let mut r = self.running.lock().unwrap();
            let here = r.entry(job.repository.clone()).or_default();
            if !here.is_empty() && (job.exclusive() || here.iter().any(|e| *e)) {
                self.overlaps.lock().unwrap().push(job.name.clone());
            }
            here.push(job.exclusive());
            let total: usize = r.values().map(Vec::len).sum();
            let mut peak = self.peak.lock().unwrap();
            *peak = (*peak).max(total);
        }
        tokio::time::sleep(Duration::from_millis(if job.exclusive() { 5 } else { 30 })).await;
        self.order.lock().unwrap().push(job.name.clone());
        let mut r = self.running.lock().unwrap();
        let here = r.get_mut(&job.repository).unwrap();
        let at = here.iter().position(|e| *e == job.exclusive()).unwrap();
        here.remove(at);
        Finished::ok()
    }
}

#[tokio::test]
async fn an_exclusive_prune_never_overlaps_jobs_of_its_repository_and_runs_in_the_same_pass() {
    // Three sources on one repository and one on another, parallel = 3, everything due.
    let text = format!(
        "{CONFIG}{}",
        r#"
[repositories.other]
url = "/tmp/never-opened-either"
password = { env = "SECRETSNAP_TEST_PASSWORD" }

[sources.qa]
url = "scaleway://fr-par/cccccccc-1111-4000-8000-00000000000c"
repository = "main"
environment = "production"
data_classes = ["critical"]

[sources.elsewhere]
url = "scaleway://nl-ams/dddddddd-1111-4000-8000-00000000000d"
repository = "other"
environment = "production"
data_classes = ["critical"]
"#
    );
    // Exclusive prunes, as configured; the default, lock-free maintenance, is not exclusive.
    let default = Config::parse(Path::new("test.toml"), &text).unwrap();
    assert!(jobs(&default)
        .iter()
        .filter(|j| j.name.starts_with("prune:"))
        .all(|j| !j.exclusive()));
    let text = text.replace(
        "password = { env = \"SECRETSNAP_TEST_PASSWORD\" }\n",
        "password = { env = \"SECRETSNAP_TEST_PASSWORD\" }\nexclusive_prune = true\n",
    );
    let cfg = Config::parse(Path::new("test.toml"), &text).unwrap();
    assert_eq!(
        jobs(&cfg).iter().filter(|j| j.exclusive()).count(),
        2,
        "one exclusive prune per repository"
    );
    for _ in 0..20 {
        let runner = LockWatcher::default();
        let clock = FakeClock(Mutex::new(t("2026-12-01T00:00:00Z")));
        let save = |_: &State| {};
        let s = scheduler_of(&cfg, &runner, &clock, 3, &save);
        let mut state = State::default();
        let (_tx, stop) = watch::channel(false);
        let runs = s.once(&mut state, &stop).await;
        assert!(runs.iter().all(|r| r.outcome == "ok"));
        assert!(
            runner.overlaps.lock().unwrap().is_empty(),
            "{:?}",
            runner.overlaps
        );
        let order = runner.order.lock().unwrap().clone();
        let ran: HashSet<&str> = order.iter().map(String::as_str).collect();
        for j in [
            "backup:prod",
            "backup:staging",
            "backup:qa",
            "backup:elsewhere",
            "prune:main",
            "prune:other",
            "check:main",
            "check:other",
        ] {
            assert!(ran.contains(j), "{j} did not run in the pass: {order:?}");
        }
        let pos = |n: &str| order.iter().position(|o| o == n).unwrap();
        for b in ["backup:prod", "backup:staging", "backup:qa", "check:main"] {
            assert!(pos(b) < pos("prune:main"), "{order:?}");
        }
        assert!(*runner.peak.lock().unwrap() <= 3);
        assert!(
            *runner.peak.lock().unwrap() >= 2,
            "repositories still run side by side"
        );
    }
}

#[tokio::test]
async fn a_paris_0230_job_runs_once_a_day_across_both_daylight_saving_changes() {
    let cfg = Config::parse(
        Path::new("test.toml"),
        r#"
[schedule]
tz = "Europe/Paris"

[repositories.main]
url = "/tmp/never-opened"
password = { env = "SECRETSNAP_TEST_PASSWORD" }

[sources.prod]
url = "scaleway://fr-par/aaaaaaaa-1111-4000-8000-00000000000a"
repository = "main"
environment = "production"

[policies.nightly]
scope = { environment = "production" }
cron = "30 2 * * *"
"#,
    )
    .unwrap();
    let paris: chrono_tz::Tz = "Europe/Paris".parse().unwrap();
    // Spring forward on 28 March 2027, fall back on 31 October 2027.
    for (from, days) in [("2027-03-25T12:00:00Z", 6), ("2027-10-28T12:00:00Z", 6)] {
        let runner = Recorder::default();
        let clock = FakeClock(Mutex::new(t(from)));
        let save = |_: &State| {};
        let s = scheduler_of(&cfg, &runner, &clock, 1, &save);
        let mut state = State::default();
        let (_tx, stop) = watch::channel(false);
        // The first pass runs everything once (never run before); then a tick every minute.
        s.once(&mut state, &stop).await;
        let mut per_day: std::collections::BTreeMap<String, usize> = Default::default();
        for _ in 0..days * 24 * 60 {
            let now = {
                let mut c = clock.0.lock().unwrap();
                *c += chrono::Duration::minutes(1);
                *c
            };
            for r in s.once(&mut state, &stop).await {
                if r.job == "backup:prod" {
                    let local = now.with_timezone(&paris);
                    *per_day.entry(local.format("%F").to_string()).or_default() += 1;
                }
            }
        }
        assert_eq!(per_day.len(), days as usize, "{from}: {per_day:?}");
        assert!(per_day.values().all(|n| *n == 1), "{from}: {per_day:?}");
    }
}
