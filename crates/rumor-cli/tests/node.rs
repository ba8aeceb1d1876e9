//! `rumor node`, `rumor keygen` and `rumor keys`, end to end: real nodes on
//! 127.0.0.1 (ports chosen by the OS), driven through their stdin and their
//! control sockets. Every node is killed when its test ends, pass or fail;
//! every wait is bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long anything a test waits for may take.
const WAIT: Duration = Duration::from_secs(10);

fn rumor() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rumor"))
}

/// A file path of this test run's own, removed when dropped.
struct TempPath(PathBuf);

impl TempPath {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("rumor-node-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        Self(path)
    }

    fn text(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temporary path")
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A running `rumor node`: its stdin, and every line it printed (stdout,
/// and stderr prefixed `stderr: `), read on threads of their own.
struct Node {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    addr: String,
    replica: String,
}

impl Node {
    /// Starts a node on 127.0.0.1 port 0 with `args`, and waits for the
    /// line that says where it listens.
    fn start(args: &[&str]) -> Self {
        let mut child = rumor()
            .args(["node", "--bind", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the rumor binary runs");
        let (send, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        for (stream, prefix) in [
            (Box::new(stdout) as Box<dyn Read + Send>, ""),
            (Box::new(stderr), "stderr: "),
        ] {
            let send = send.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if send.send(format!("{prefix}{line}")).is_err() {
                        return;
                    }
                }
            });
        }
        let mut node = Self {
            stdin: child.stdin.take(),
            child,
            lines,
            seen: Vec::new(),
            addr: String::new(),
            replica: String::new(),
        };
        let line = node.wait_for(|l| l.contains(" listening on "));
        // "rumor node R1a2b3c4d listening on 127.0.0.1:PORT (...)"
        let words: Vec<&str> = line.split_whitespace().collect();
        node.replica = words[2].to_string();
        node.addr = words[5].to_string();
        node
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{line}").expect("the node reads its stdin");
    }

    /// The first line from now on that `matches`; fails the test, with
    /// what the node printed, after [`WAIT`].
    fn wait_for(&mut self, matches: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if matches(&line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "node {} never printed the line awaited; it printed:\n{}",
                    self.addr,
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// A line that `matches`, printed already or from now on.
    fn find(&mut self, matches: impl Fn(&str) -> bool) -> String {
        match self.seen.iter().find(|l| matches(l)) {
            Some(line) => line.clone(),
            None => self.wait_for(matches),
        }
    }

    /// Sends `command` and waits for the reply line `expected`.
    fn ask(&mut self, command: &str, expected: &str) {
        self.send(command);
        self.wait_for(|l| l == expected);
    }

    /// Sends SIGTERM and waits (bounded) for the exit; its status.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        self.exit("SIGTERM")
    }

    /// Waits (bounded) for the node to stop after `what`; its status.
    fn exit(&mut self, what: &str) -> std::process::ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("the node can be waited on") {
                return status;
            }
            assert!(Instant::now() < deadline, "the node did not stop on {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `rumor args` to its end, with no stdin; kills it (and fails) if it
/// runs longer than [`WAIT`].
fn run(args: &[&str]) -> Output {
    let mut child = rumor()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the rumor binary runs");
    let deadline = Instant::now() + WAIT;
    while child.try_wait().expect("waitable").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rumor {args:?} did not end");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("its output")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A new key file, made by `rumor keygen --out`; its key id.
fn keygen(path: &TempPath) -> String {
    let output = run(&["keygen", "--out", path.text()]);
    assert!(output.status.success(), "{}", stderr(&output));
    // "key 1a2b3c4d written to PATH"
    stdout(&output)
        .split_whitespace()
        .nth(1)
        .expect("the key id")
        .to_string()
}

/// One command through a node's control socket, as `rumor keys` sends
/// them; the reply.
fn control(socket: &TempPath, command: &str) -> String {
    let mut stream = std::os::unix::net::UnixStream::connect(&socket.0).expect("the socket");
    stream.set_read_timeout(Some(WAIT)).expect("a read timeout");
    writeln!(stream, "{command}").expect("sent");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("a reply");
    reply
}

/// `rumor keys ARGS --control SOCKET`, which must succeed; its stdout.
fn keys(socket: &TempPath, args: &[&str]) -> String {
    let mut all = vec!["keys"];
    all.extend_from_slice(args);
    all.extend(["--control", socket.text()]);
    let output = run(&all);
    assert!(output.status.success(), "{all:?}: {}", stderr(&output));
    stdout(&output)
}

#[test]
fn a_write_on_one_node_is_printed_and_read_on_the_others() {
    let key = TempPath::new("shared.key");
    keygen(&key);
    let mut a = Node::start(&["--key-file", key.text(), "--metrics", "127.0.0.1:0"]);
    let mut b = Node::start(&["--key-file", key.text(), "--join", &a.addr.clone()]);
    let mut c = Node::start(&["--key-file", key.text(), "--join", &b.addr.clone()]);

    a.ask("set color deep blue", "ok");
    let from_a = format!("change: set color = deep blue (by {}, ", a.replica);
    for node in [&mut b, &mut c] {
        let line = node.wait_for(|l| l.starts_with(&from_a));
        assert!(line.ends_with(" ms after the write)"), "{line}");
    }
    b.ask("get color", "color = deep blue");
    c.ask("inc hits 2", "hits = 2");
    // B counts from C's increment once it has it (under load, a write typed
    // at once could be applied first).
    b.wait_for(|l| l.starts_with("change: inc hits +2 = 2") && l.contains(&c.replica));
    b.ask("inc hits -5", "hits = -3");
    a.wait_for(|l| l.starts_with("change: inc hits +2 = ") && l.contains(&c.replica));
    a.wait_for(|l| l.starts_with("change: inc hits -5 = ") && l.contains(&b.replica));
    a.ask("get color", "color = deep blue");
    c.ask("add tags x", "ok");
    b.wait_for(|l| l == format!("change: add tags x (by {})", c.replica));
    b.ask("rm tags x", "ok");
    c.wait_for(|l| l == "change: rm tags x");
    // A node does not print its own writes as changes.
    assert!(
        !a.seen.iter().any(|l| l.starts_with("change: set color")),
        "{:?}",
        a.seen
    );

    // The metrics of A, as Prometheus text.
    let metrics = a.find(|l| l.starts_with("metrics on http://"));
    let host = metrics
        .trim_start_matches("metrics on http://")
        .trim_end_matches("/metrics")
        .to_string();
    let mut http = std::net::TcpStream::connect(&host).expect("the metrics endpoint");
    http.set_read_timeout(Some(WAIT)).expect("a timeout");
    http.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("sent");
    let mut page = String::new();
    http.read_to_string(&mut page).expect("the page");
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    assert!(page.contains("rumor_messages_sent_total{kind="), "{page}");

    // SIGTERM: C leaves, announced, and B stops listing it.
    let status = c.terminate();
    assert!(status.success(), "{status}");
    c.wait_for(|l| l == "left the cluster");
    let deadline = Instant::now() + WAIT;
    loop {
        b.send("members");
        let count = b.wait_for(|l| l.ends_with(" members besides this one"));
        if count.starts_with("1 ") {
            b.wait_for(|l| l == format!("  {}", a.addr));
            break;
        }
        assert!(Instant::now() < deadline, "B still lists C: {count}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // `quit` on stdin: the same clean leave, exit 0.
    b.ask("quit", "leaving");
    b.wait_for(|l| l == "left the cluster");
    let status = b.exit("quit");
    assert!(status.success(), "{status}");
}

/// A rotation as an operator runs it on a live cluster of three: the new
/// key installed everywhere, then used by one node before the others (the
/// others open its envelopes with the key they installed, and it still
/// opens theirs), then by all, then the old key removed everywhere. Writes
/// keep flowing both ways at every step, and no envelope is refused.
#[test]
fn keys_rotate_across_three_running_nodes_and_writes_keep_flowing() {
    let (old, new) = (TempPath::new("old.key"), TempPath::new("new.key"));
    let old_id = keygen(&old);
    let new_id = keygen(&new);
    let sockets = [
        TempPath::new("a.sock"),
        TempPath::new("b.sock"),
        TempPath::new("c.sock"),
    ];
    let [socket_a, socket_b, socket_c] = &sockets;
    let mut a = Node::start(&["--key-file", old.text(), "--control", socket_a.text()]);
    let joining = |socket: &TempPath, seed: &str| {
        Node::start(&[
            "--key-file",
            old.text(),
            "--control",
            socket.text(),
            "--join",
            seed,
        ])
    };
    let mut b = joining(socket_b, &a.addr);
    let mut c = joining(socket_c, &b.addr);
    // A's stdin ends: it keeps running, and takes commands on its socket.
    drop(a.stdin.take());
    a.wait_for(|l| l.starts_with("stderr: stdin closed: running until"));

    // A write on A (through its socket), seen by B and C; one on C (through
    // its stdin), seen by A and B.
    let mut step = 0;
    let mut both_ways = |a: &mut Node, b: &mut Node, c: &mut Node| {
        step += 1;
        assert_eq!(control(socket_a, &format!("set a {step}")), "ok\n");
        let expected = format!("change: set a = {step} (by ");
        for node in [&mut *b, &mut *c] {
            node.wait_for(|l| l.starts_with(&expected));
        }
        c.ask(&format!("set c {step}"), "ok");
        let expected = format!("change: set c = {step} (by ");
        for node in [a, b] {
            node.wait_for(|l| l.starts_with(&expected));
        }
    };
    both_ways(&mut a, &mut b, &mut c);
    for socket in &sockets {
        assert_eq!(
            keys(socket, &["install", new.text()]),
            format!("installed {new_id}\n")
        );
    }
    both_ways(&mut a, &mut b, &mut c);
    // A seals with the new key first; B and C still seal with the old one.
    assert_eq!(
        keys(socket_a, &["use", &new_id]),
        format!("using {new_id}\n")
    );
    both_ways(&mut a, &mut b, &mut c);
    for socket in [socket_b, socket_c] {
        assert_eq!(keys(socket, &["use", &new_id]), format!("using {new_id}\n"));
    }
    both_ways(&mut a, &mut b, &mut c);
    // The key in use cannot be removed.
    let refused = run(&["keys", "remove", &new_id, "--control", socket_a.text()]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("is the primary key"),
        "{}",
        stderr(&refused)
    );
    for socket in &sockets {
        assert_eq!(
            keys(socket, &["remove", &old_id]),
            format!("removed {old_id}\n")
        );
        assert_eq!(keys(socket, &["list"]), format!("{new_id} primary\n"));
    }
    both_ways(&mut a, &mut b, &mut c);
    b.ask("get a", "a = 5");
    b.ask("get c", "c = 5");
    for socket in &sockets {
        let stats = control(socket, "stats");
        assert!(stats.contains("\nrefused 0 envelopes"), "{stats}");
    }
    // A node that stops takes its control socket with it.
    assert!(a.terminate().success());
    assert!(!socket_a.0.exists(), "the control socket is left behind");
}

#[test]
fn keygen_writes_a_private_key_file_and_never_overwrites_one_unasked() {
    let path = TempPath::new("keygen.key");
    let id = keygen(&path);
    let meta = std::fs::metadata(&path.0).expect("the key file");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(&path.0).expect("readable");
    assert_eq!(text.trim().len(), 64, "64 hex digits");

    let again = run(&["keygen", "--out", path.text()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("exists: give --force"),
        "{}",
        stderr(&again)
    );
    assert_eq!(std::fs::read_to_string(&path.0).expect("readable"), text);

    std::fs::set_permissions(&path.0, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let forced = run(&["keygen", "--out", path.text(), "--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert_ne!(std::fs::read_to_string(&path.0).expect("readable"), text);
    let mode = std::fs::metadata(&path.0)
        .expect("there")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(!stdout(&forced).contains(&id));

    let printed = run(&["keygen"]);
    assert!(printed.status.success());
    assert_eq!(stdout(&printed).trim().len(), 64);
}

/// `rumor args` fails with `code` and a message holding `expected`, and
/// no panic.
fn fails(args: &[&str], code: i32, expected: &str) {
    let output = run(args);
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(stderr.contains(expected), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
}

#[test]
fn bad_key_files_ports_in_use_and_bad_arguments_fail_with_a_message() {
    fn node<'a>(extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["node", "--bind", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        args
    }
    fails(
        &node(&["--key-file", "/no/such/file.key"]),
        1,
        "could not read the key file /no/such/file.key",
    );
    let bad = TempPath::new("bad.key");
    std::fs::write(&bad.0, "# a comment\nnot a key at all\n").expect("written");
    fails(&node(&["--key-file", bad.text()]), 1, "key file, line 2:");
    std::fs::write(&bad.0, "").expect("written");
    fails(&node(&["--key-file", bad.text()]), 1, "holds no key");

    let taken = std::net::UdpSocket::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().expect("bound").to_string();
    fails(
        &["node", "--bind", &port, "--plaintext"],
        1,
        &format!("could not start the node on {port}"),
    );
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().expect("bound").to_string();
    fails(
        &node(&["--plaintext", "--metrics", &port]),
        1,
        &format!("could not serve metrics on {port}"),
    );
    let not_a_socket = TempPath::new("plain-file");
    std::fs::write(&not_a_socket.0, "x").expect("written");
    fails(
        &node(&["--plaintext", "--control", not_a_socket.text()]),
        1,
        "is not a socket",
    );
    fails(
        &["keys", "list", "--control", "/no/such/socket"],
        1,
        "could not reach a node's control socket",
    );

    for (args, expected) in [
        (
            &["node", "--bind", "nowhere", "--plaintext"][..],
            "invalid value 'nowhere'",
        ),
        (&["node", "--bind", "127.0.0.1:0"], "--key-file"),
        (
            &["node", "--plaintext", "--key-file", "k"],
            "cannot be used with",
        ),
        (
            &["node", "--plaintext", "--join", "host-without-port"],
            "is not ADDR:PORT",
        ),
        (
            &["keys", "use", "zz", "--control", "/tmp/x"],
            "is not a key id",
        ),
        (&["keys", "list"], "--control"),
        (&["keygen", "--force"], "--out"),
    ] {
        fails(args, 2, expected);
    }
}

#[test]
fn every_new_command_has_help_with_examples() {
    for args in [
        &["node", "--help"][..],
        &["keygen", "--help"],
        &["keys", "--help"],
    ] {
        let output = run(args);
        assert!(output.status.success(), "{args:?}");
        assert!(
            stdout(&output).contains("Examples:") || stdout(&output).contains("Rotating"),
            "{args:?}"
        );
    }
    let keys = stdout(&run(&["keys", "--help"]));
    for step in ["install", "use", "remove"] {
        assert!(keys.contains(&format!("rumor keys {step}")), "{keys}");
    }
}
