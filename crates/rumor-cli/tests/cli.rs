//! The `rumor` binary, end to end: each test spawns it and reads what it
//! prints.

use std::process::{Command, Output};

use serde_json::Value;

fn rumor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rumor"))
        .args(args)
        .output()
        .expect("the rumor binary runs")
}

fn json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "rumor failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON object")
}

fn number(value: &Value, path: &str) -> f64 {
    value
        .pointer(path)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{path} is a number in {value}"))
}

/// The percentiles at `path` are there and ordered.
fn check_percentiles(report: &Value, path: &str) {
    let p = |name: &str| number(report, &format!("{path}/{name}"));
    let (p50, p90, p99, max) = (p("p50"), p("p90"), p("p99"), p("max"));
    assert!(
        0.0 <= p50 && p50 <= p90 && p90 <= p99 && p99 <= max,
        "{path}: {p50} {p90} {p99} {max}"
    );
    assert_eq!(
        report.pointer(&format!("{path}/method")),
        Some(&Value::from("nearest-rank"))
    );
}

/// `updates/each_to_all_ms` holds one entry per update written, `null` for
/// those that missed an agent, and its largest is the percentiles' max.
fn check_each(run: &Value) {
    let each = run
        .pointer("/updates/each_to_all_ms")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("each_to_all_ms is an array in {run}"));
    assert_eq!(each.len() as f64, number(run, "/updates/written"));
    let reached: Vec<f64> = each.iter().filter_map(Value::as_f64).collect();
    assert_eq!(reached.len() as f64, number(run, "/updates/reached_all"));
    let max = reached.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(max, number(run, "/updates/to_all_ms/max"));
}

#[test]
fn a_small_swarm_delivers_every_update_to_every_agent() {
    let output = rumor(&[
        "swarm",
        "--agents",
        "10",
        "--duration",
        "2",
        "--writes-per-sec",
        "20",
        "--kill",
        "1",
        "--seed",
        "7",
        "--json",
    ]);
    let report = json(&output);
    let run = &report["runs"][0];
    let written = number(run, "/updates/written");
    assert_eq!(written, 40.0);
    assert_eq!(number(run, "/updates/reached_all"), written);
    assert_eq!(number(run, "/updates/to_all_ms/n"), written);
    check_percentiles(run, "/updates/to_all_ms");
    check_each(run);
    assert_eq!(run.get("tree_ms"), None, "no rooted tree over full views");
    assert!(number(run, "/traffic/messages_per_update") > 0.0);
    assert!(number(run, "/traffic/bytes_per_update") > 0.0);
    // The kinds of message add up to all of them, and the writes went on
    // the tree (the default strategy is eager).
    let kinds = run["traffic"]["by_kind"]
        .as_array()
        .expect("traffic by kind");
    let names: Vec<&str> = kinds.iter().filter_map(|k| k["kind"].as_str()).collect();
    assert_eq!(names, ["probe", "view", "sync", "tree"]);
    let sum: f64 = kinds
        .iter()
        .map(|k| number(k, "/messages_per_agent_per_s"))
        .sum();
    let all = number(run, "/traffic/messages_per_agent_per_s");
    assert!(
        (sum - all).abs() <= 1e-6 * all.max(1.0),
        "{sum} against {all}"
    );
    assert!(number(&kinds[3], "/messages_per_agent_per_s") > 0.0);
    assert_eq!(number(run, "/dead/killed"), 1.0);
    assert_eq!(number(run, "/dead/declared_dead_by_all"), 1.0);
    assert_eq!(report.pointer("/settings/seed"), Some(&Value::from(7)));
    assert_eq!(
        report.pointer("/settings/plaintext"),
        Some(&Value::from(false))
    );
    let curve = run["curve"].as_array().expect("the infection curve");
    let last = curve.last().expect("points");
    assert_eq!(last["share"].as_f64(), Some(1.0));
    // The process's CPU, idle and writing (read from /proc on Linux).
    if cfg!(target_os = "linux") {
        let busy = number(run, "/cpu/busy_cores");
        assert!(busy > 0.0 && busy <= 64.0, "{busy} cores busy");
        assert!(number(run, "/cpu/idle_cores") >= 0.0);
        let per_update = number(run, "/cpu/per_update_ms");
        let per_agent = number(run, "/cpu/per_update_per_agent_us");
        assert!(
            (per_agent - per_update * 1_000.0 / 10.0).abs() <= 1e-6 * per_agent.max(1.0),
            "{per_agent} µs an agent against {per_update} ms an update"
        );
    }
}

/// `--partial`: 30 agents over partial views (5 links each, 6 at most), every
/// update reaches every live agent, the killed one is dropped by every link,
/// and no live agent is left without one; idle workers spin before they
/// sleep (`--spin-us`) and run unpinned (`--no-pin`), and the report
/// records both.
#[test]
fn a_small_swarm_over_partial_views_delivers_every_update_to_every_agent() {
    let output = rumor(&[
        "swarm",
        "--agents",
        "30",
        "--partial",
        "--duration",
        "2",
        "--kill",
        "1",
        "--seed",
        "9",
        "--spin-us",
        "200",
        "--no-pin",
        "--json",
    ]);
    let report = json(&output);
    assert_eq!(
        report.pointer("/settings/partial"),
        Some(&Value::from(true))
    );
    assert_eq!(report.pointer("/settings/spin_us"), Some(&Value::from(200)));
    assert_eq!(report.pointer("/settings/no_pin"), Some(&Value::from(true)));
    let run = &report["runs"][0];
    let written = number(run, "/updates/written");
    assert_eq!(written, 40.0);
    assert_eq!(number(run, "/updates/reached_all"), written);
    check_percentiles(run, "/updates/to_all_ms");
    assert_eq!(number(run, "/dead/declared_dead_by_all"), 1.0);
    assert_eq!(number(run, "/dead/live_held_dead"), 0.0);
    // The writes waited for the rooted tree, which formed after the links.
    let links = number(run, "/formation_ms");
    let tree = number(run, "/tree_ms");
    assert!(
        tree >= links,
        "tree formed in {tree} ms, links in {links} ms"
    );
}

#[test]
fn a_small_simulation_compares_every_strategy() {
    let args = [
        "sim",
        "--agents",
        "200",
        "--updates",
        "20",
        "--duration",
        "1",
        "--compare",
        "--seed",
        "3",
        "--json",
    ];
    let report = json(&rumor(&args));
    let runs = report["runs"].as_array().expect("runs");
    let names: Vec<&str> = runs.iter().filter_map(|r| r["strategy"].as_str()).collect();
    assert_eq!(names, ["full-state", "delta", "delta-optimized", "eager"]);
    for run in runs {
        assert_eq!(number(run, "/updates/written"), 20.0, "{run}");
        assert_eq!(number(run, "/updates/reached_all"), 20.0, "{run}");
        check_percentiles(run, "/updates/to_all_ms");
        check_each(run);
        assert_eq!(number(run, "/dead/declared_dead_by_all"), 1.0, "{run}");
        check_percentiles(run, "/dead/to_all_ms");
    }
    // The simulator replays a seed: the same run, the same numbers.
    let again = json(&rumor(&args));
    assert_eq!(report, again);
}

#[test]
fn plot_draws_every_run_into_an_svg_file() {
    let path = std::env::temp_dir().join(format!("rumor-cli-plot-{}.svg", std::process::id()));
    let path_text = path.to_str().expect("a UTF-8 temporary path");
    let output = rumor(&[
        "sim",
        "--agents",
        "100",
        "--updates",
        "10",
        "--duration",
        "1",
        "--compare",
        "--kill",
        "0",
        "--plot",
        path_text,
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let svg = std::fs::read_to_string(&path).expect("the plot was written");
    let _ = std::fs::remove_file(&path);
    assert!(svg.starts_with("<svg"), "{svg}");
    for name in ["full-state", "delta", "delta-optimized", "eager", "p99"] {
        assert!(svg.contains(name), "{name} is not in the plot");
    }
}

#[test]
fn an_unwritable_plot_fails_before_the_run() {
    let output = rumor(&["swarm", "--plot", "/no/such/directory/plot.svg"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("could not write the plot to /no/such/directory/plot.svg"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn ctrl_c_prints_the_partial_report() {
    let child = Command::new(env!("CARGO_BIN_EXE_rumor"))
        .args(["swarm", "--agents", "5", "--duration", "120", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the rumor binary runs");
    std::thread::sleep(std::time::Duration::from_secs(3));
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let output = child.wait_with_output().expect("rumor ends");
    let report = json(&output);
    assert_eq!(report["interrupted"], Value::from(true));
    let run = &report["runs"][0];
    assert!(
        number(run, "/updates/written") < 2_400.0,
        "it stopped writing"
    );
    assert_eq!(
        number(run, "/updates/reached_all"),
        number(run, "/updates/written")
    );
}

#[test]
fn bad_arguments_fail_with_a_message_and_no_panic() {
    for args in [
        &["swarm", "--agents", "1"][..],
        &["swarm", "--loss", "1.5"],
        &["swarm", "--loss", "lots"],
        &["swarm", "--strategy", "gossipy"],
        &["swarm", "--duration", "0"],
        &["swarm", "--agents", "3", "--kill", "2"],
        &["swarm", "--no-such-option"],
        &["swarm", "--latency", "20-5"],
        &["swarm", "--latency", "60001"],
        &["swarm", "--spin-us", "20000"],
        &["node", "--latency", "soon"],
        &["sim", "--latency", "9-2"],
        &["sim", "--churn", "-0.1"],
        &["sim", "--compare", "--strategy", "delta"],
        &["sim", "--agents", "2", "--kill", "1"],
        &["sim", "--cpu", "2y22"],
        &["sim", "--cpu", "0x22"],
        &["sim", "--cpu", "2x"],
        &["no-such-command"],
    ] {
        let output = rumor(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(
            stderr.contains("error"),
            "{args:?}: no error message: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?} printed a report");
    }
}

#[test]
fn no_command_prints_the_usage_and_fails() {
    let output = rumor(&[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("Usage: rumor <COMMAND>"));
}

#[test]
fn every_command_has_help_with_examples() {
    for args in [&["--help"][..], &["swarm", "--help"], &["sim", "--help"]] {
        let output = rumor(args);
        assert!(output.status.success(), "{args:?}");
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(help.contains("Examples:"), "{args:?}: {help}");
    }
}

#[test]
fn swarm_latency_delays_every_update_by_at_least_its_minimum() {
    let output = rumor(&[
        "swarm",
        "--agents",
        "5",
        "--duration",
        "1",
        "--writes-per-sec",
        "10",
        "--kill",
        "0",
        "--latency",
        "30-40",
        "--json",
    ]);
    let report = json(&output);
    let run = &report["runs"][0];
    let written = number(run, "/updates/written");
    assert_eq!(number(run, "/updates/reached_all"), written);
    check_percentiles(run, "/updates/to_all_ms");
    // Every update crosses at least one delayed datagram: a lower bound,
    // robust under load.
    let p50 = number(run, "/updates/to_all_ms/p50");
    assert!(p50 >= 30.0, "p50 {p50} ms under the injected 30 ms");
}
