//! `rumor node`: one real, long-running agent. It joins a cluster over UDP
//! and TCP, reads commands on stdin (and on its control socket, with
//! `--control`), prints every change that arrives from elsewhere with its
//! writer and its delay, serves Prometheus metrics with `--metrics`, and
//! leaves the cluster cleanly on Ctrl-C, SIGTERM or `quit`.
//!
//! The end of stdin does not stop it: a node started with `</dev/null`
//! (under a supervisor, in a script) runs until it is signalled.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use rumor_crdt::HlcTimestamp;
use rumor_net::{Change, Gossip, GossipHandle, Keyring, Subscription, TransportConfig};
use tokio::sync::{mpsc, Notify, Semaphore};
use zeroize::Zeroizing;

use crate::agent_state::{AgentState, Mirror};
use crate::control;
use crate::request::{self, Line, Request};

const EXAMPLES: &str = "\
Examples:
  rumor keygen --out cluster.key
  rumor node --bind 10.0.0.1:7946 --key-file cluster.key
  rumor node --bind 10.0.0.2:7946 --join 10.0.0.1:7946 --key-file cluster.key --metrics 127.0.0.1:9100
  rumor node --bind 127.0.0.1:0 --plaintext --control /tmp/rumor.sock

Then type commands (`help` lists them):
  set color blue      del color      get color
  add tags x          rm tags x      inc visits 3
  show                members        stats          quit
  keys list | keys install KEY | keys use ID | keys remove ID

Every change written elsewhere is printed as it arrives:
  change: set color = blue (by R1a2b3c4d, 3 ms after the write)

The end of stdin does not stop the node: Ctrl-C, SIGTERM or `quit` leave
the cluster (announced) and stop it. Key rotation without downtime: see
`rumor keys --help`.";

/// How long leaving may take before the node stops anyway.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(3);
/// Key files larger than this are refused unread (a key line is 65 bytes).
const MAX_KEY_FILE: u64 = 64 * 1024;
/// Lines of stdin read ahead of the node.
const STDIN_QUEUE: usize = 16;

/// A member to join through: an address, or a host name with a port
/// (resolved at start and again every 30 s).
#[derive(Clone, Debug)]
pub(crate) enum Seed {
    Addr(SocketAddr),
    Host(String),
}

fn seed(text: &str) -> Result<Seed, String> {
    if let Ok(addr) = text.parse() {
        return Ok(Seed::Addr(addr));
    }
    match text.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {
            Ok(Seed::Host(text.to_string()))
        }
        _ => Err(format!(
            "`{text}` is not ADDR:PORT or HOST:PORT (e.g. 10.0.0.1:7946, seed-1.example:7946)"
        )),
    }
}

/// The options of `rumor node`.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
#[command(group(clap::ArgGroup::new("security").required(true).args(["key_file", "plaintext"])))]
pub(crate) struct Args {
    /// The address to bind UDP and TCP to (port 0: the OS chooses; the node
    /// prints the address it bound).
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:7946")]
    pub(crate) bind: SocketAddr,
    /// The address peers reach this node at, when not the bound one (a node
    /// bound to 0.0.0.0 should say which of its addresses others use).
    #[arg(long, value_name = "ADDR")]
    pub(crate) advertise: Option<SocketAddr>,
    /// Members to join through: ADDR:PORT or HOST:PORT, several after one
    /// --join or comma-separated.
    #[arg(long, value_name = "ADDR", num_args = 1.., value_delimiter = ',', value_parser = seed)]
    pub(crate) join: Vec<Seed>,
    /// The cluster's keys, one a line, the first seals (`rumor keygen --out
    /// FILE` makes one).
    #[arg(long, value_name = "FILE")]
    pub(crate) key_file: Option<PathBuf>,
    /// No encryption and no authentication: for experiments on a trusted
    /// network only.
    #[arg(long)]
    pub(crate) plaintext: bool,
    /// Do not sign this node's writes. By default, with a key file, the
    /// node signs its eager-path writes with a fresh ed25519 key (its
    /// replica id is derived from it) and accepts only signed ones: every
    /// node of a cluster signs, or none does.
    #[arg(long)]
    pub(crate) unsigned: bool,
    /// The cluster's label, bound into every envelope: nodes of different
    /// labels ignore each other.
    #[arg(long, value_name = "LABEL", default_value = rumor_net::DEFAULT_CLUSTER)]
    pub(crate) cluster: String,
    /// Serve the node's metrics as Prometheus text at http://ADDR/metrics.
    #[arg(long, value_name = "ADDR")]
    pub(crate) metrics: Option<SocketAddr>,
    /// Drop this share of outgoing datagrams (0.05 = 5 %), for experiments
    /// where the network cannot be made lossy (scripts/netns-cluster.sh
    /// without netem and nftables). TCP streams are not touched.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = super::probability)]
    pub(crate) loss: f64,
    /// Delay every outgoing datagram by this many ms (one value, or a range
    /// MIN-MAX drawn uniformly), for experiments where the network cannot
    /// add delay (scripts/netns-cluster.sh without netem). TCP streams are
    /// not delayed.
    #[arg(long, value_name = "MS[-MS]", default_value = "0", value_parser = super::latency)]
    pub(crate) latency: super::Latency,
    /// Take commands on a Unix socket at PATH too (mode 0600, this user only):
    /// what `rumor keys --control PATH` talks to.
    #[arg(long, value_name = "PATH")]
    pub(crate) control: Option<PathBuf>,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let keyring = args.key_file.as_deref().map(load_keyring).transpose()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the tokio runtime")?;
    let result = runtime.block_on(agent(args, keyring));
    runtime.shutdown_timeout(Duration::from_millis(500));
    result
}

/// Reads a key file (at most [`MAX_KEY_FILE`] bytes); warns when others
/// may read it.
pub(crate) fn load_keyring(path: &Path) -> anyhow::Result<Keyring> {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    let file = std::fs::File::open(path)
        .with_context(|| format!("could not read the key file {}", path.display()))?;
    let mut text = Zeroizing::new(String::new());
    file.take(MAX_KEY_FILE + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("could not read the key file {}", path.display()))?;
    if text.len() as u64 > MAX_KEY_FILE {
        anyhow::bail!(
            "{} is larger than {MAX_KEY_FILE} bytes: not a key file",
            path.display()
        );
    }
    let ring = Keyring::from_key_file(&text)
        .map_err(|e| anyhow::anyhow!("the key file {}: {e}", path.display()))?;
    if std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0) {
        eprintln!(
            "warning: other users may read the key file {} (chmod 600 it)",
            path.display()
        );
    }
    Ok(ring)
}

/// Writes `text` and a newline on stdout; a closed stdout is ignored (the
/// node keeps running for its cluster).
fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The running node, as the command handlers see it.
#[derive(Clone)]
struct Agent {
    gossip: GossipHandle<AgentState>,
    mirror: Arc<Mutex<Mirror>>,
    stop: Arc<Notify>,
}

async fn agent(args: &Args, keyring: Option<Keyring>) -> anyhow::Result<()> {
    let metrics = match args.metrics {
        Some(addr) => Some(crate::prometheus::serve(addr).await?),
        None => None,
    };
    let control = match &args.control {
        Some(path) => Some(control::bind(path).await?),
        None => None,
    };
    let me = rumor_crdt::ReplicaId::random();
    let key = keyring.as_ref().map(|ring| ring.primary().id());
    let transport = TransportConfig {
        loss: args.loss,
        latency: args.latency.injected(),
        loss_seed: rand::RngExt::random(&mut rand::make_rng::<rand::rngs::StdRng>()),
        ..TransportConfig::new(args.bind)
    };
    let mut builder = Gossip::builder(me, AgentState::default())
        .bind(args.bind)
        .transport(transport)
        .cluster(&args.cluster);
    if let Some(addr) = args.advertise {
        builder = builder.advertise(addr);
    }
    let signed = keyring.is_some() && !args.unsigned;
    builder = match keyring {
        Some(ring) => builder.keyring(ring),
        None => builder.plaintext(),
    };
    if signed {
        let mut secret = Zeroizing::new([0; 32]);
        rand::Rng::fill_bytes(&mut rand::make_rng::<rand::rngs::StdRng>(), &mut *secret);
        builder = builder.identity(rumor_gossip::Identity::from_secret(*secret));
    }
    let gossip = builder
        .seeds(args.join.iter().filter_map(|seed| match seed {
            Seed::Addr(addr) => Some(*addr),
            Seed::Host(_) => None,
        }))
        .seed_hosts(args.join.iter().filter_map(|seed| match seed {
            Seed::Host(host) => Some(host.clone()),
            Seed::Addr(_) => None,
        }))
        .start()
        .await
        .with_context(|| format!("could not start the node on {}", args.bind))?;
    // A signing node writes as its key's replica id.
    let me = gossip.replica();

    let agent = Agent {
        gossip: gossip.clone(),
        mirror: Arc::new(Mutex::new(Mirror::new(me))),
        stop: Arc::new(Notify::new()),
    };
    let printer = tokio::spawn(print_changes(agent.clone(), gossip.subscribe()));
    let security = key.map_or_else(
        || "plaintext".to_string(),
        |id| format!("key {id}, {}", if signed { "signed" } else { "unsigned" }),
    );
    say(&format!(
        "rumor node {me:?} listening on {} (cluster {}, {security})",
        gossip.local_addr(),
        args.cluster
    ));
    if let Some(addr) = metrics {
        say(&format!("metrics on http://{addr}/metrics"));
    }
    if let Some(path) = &args.control {
        say(&format!("control socket {}", path.display()));
    }

    let (lines, mut stdin) = mpsc::channel(STDIN_QUEUE);
    std::thread::spawn(move || read_stdin(&lines));
    if let Some(socket) = control {
        tokio::spawn(serve_control(agent.clone(), socket));
    }
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("could not watch for SIGTERM")?;
    let mut stdin_open = true;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
            () = agent.stop.notified() => break,
            line = stdin.recv(), if stdin_open => match line {
                Some(Line::Text(text)) => match request::parse(&text) {
                    Ok(Some(request)) => match execute(&agent, request).await {
                        Ok(reply) => say(&reply),
                        Err(error) => eprintln!("error: {error}"),
                    },
                    Ok(None) => {}
                    Err(error) => eprintln!("error: {error}"),
                },
                Some(Line::Refused(why)) => eprintln!("error: {why}"),
                Some(Line::End) | None => {
                    stdin_open = false;
                    eprintln!("stdin closed: running until Ctrl-C, SIGTERM or `quit` (control socket)");
                }
            },
        }
    }
    // Announce the leave; a node that cannot is stopped all the same.
    let left = tokio::time::timeout(LEAVE_TIMEOUT, gossip.leave()).await;
    gossip.shutdown().await;
    let _ = printer.await;
    match left {
        Ok(Ok(())) => say("left the cluster"),
        _ => say("stopped (the leave was not announced in time)"),
    }
    Ok(())
}

/// Reads stdin line by line on a thread of its own (a blocked read never
/// holds up the runtime) until its end.
fn read_stdin(lines: &mpsc::Sender<Line>) {
    let mut input = std::io::stdin().lock();
    loop {
        let line = request::read_line(&mut input).unwrap_or(Line::End);
        let end = line == Line::End;
        if lines.blocking_send(line).is_err() || end {
            return;
        }
    }
}

/// Prints every change written elsewhere, until the node shuts down.
async fn print_changes(agent: Agent, mut changes: Subscription<AgentState>) {
    while let Some(change) = changes.recv().await {
        let incoming = match change {
            Change::Delta(delta) => delta,
            Change::Lagged(missed) => {
                eprintln!("note: {missed} changes went by unprinted; what they changed follows");
                match agent.gossip.read(|s| Arc::new(s.clone())).await {
                    Ok(state) => state,
                    Err(_) => return,
                }
            }
        };
        let events = agent
            .mirror
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .absorb(&incoming);
        let now = wall_ms();
        for event in events {
            say(&event.line(now));
        }
    }
}

/// Answers the control socket's connections, a few at a time.
async fn serve_control(agent: Agent, socket: control::ControlSocket) {
    let uid = control::my_uid();
    let permits = Arc::new(Semaphore::new(control::CONNECTIONS));
    loop {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let Ok((mut stream, _)) = socket.listener.accept().await else {
            continue;
        };
        let agent = agent.clone();
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            if let Some(line) = control::read_command(&mut stream, uid).await {
                let reply = match request::parse(&line) {
                    Ok(Some(request)) => execute(&agent, request).await,
                    Ok(None) => Err("empty command".to_string()),
                    Err(error) => Err(error),
                };
                let text = match reply {
                    Ok(text) => format!("{text}\n"),
                    Err(error) => format!("error: {error}\n"),
                };
                let _ =
                    tokio::time::timeout(control::TIMEOUT, stream.write_all(text.as_bytes())).await;
            }
            drop(permit);
        });
    }
}

impl Agent {
    /// A local write: `mutate` makes the delta (`None`: refused) with a
    /// timestamp from the node's clock; the mirror takes it in the node
    /// task, before it is published, so it is never printed as news.
    async fn write<F>(&self, mutate: F) -> Result<Arc<AgentState>, String>
    where
        F: FnOnce(&mut AgentState, HlcTimestamp) -> Option<AgentState> + Send + 'static,
    {
        let mirror = Arc::clone(&self.mirror);
        self.gossip
            .update_stamped(move |state, now| {
                let delta = mutate(state, now).unwrap_or_default();
                mirror
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .local(&delta);
                delta
            })
            .await
            .map_err(|e| e.to_string())
    }

    async fn read<R, F>(&self, read: F) -> Result<R, String>
    where
        F: FnOnce(&AgentState) -> R + Send + 'static,
        R: Send + 'static,
    {
        self.gossip.read(read).await.map_err(|e| e.to_string())
    }
}

/// Runs one command; the reply's lines, or why it was refused.
async fn execute(agent: &Agent, request: Request) -> Result<String, String> {
    let gossip = &agent.gossip;
    let me = gossip.replica();
    let text = |e: rumor_net::GossipError| e.to_string();
    Ok(match request {
        Request::Set { key, value } => {
            agent
                .write(move |s, now| {
                    Some(s.update_values(|v| v.insert(key, value, now).unwrap_or_default()))
                })
                .await?;
            "ok".to_string()
        }
        Request::Del { key } => {
            agent
                .write(move |s, now| {
                    Some(s.update_values(|v| v.remove(&key, now).unwrap_or_default()))
                })
                .await?;
            "ok".to_string()
        }
        Request::Get { key } => {
            let value = agent
                .read({
                    let key = key.clone();
                    move |s| s.values.get(&key).cloned()
                })
                .await?;
            value.map_or_else(|| format!("{key} is not set"), |v| format!("{key} = {v}"))
        }
        Request::Add { set, element } => {
            agent
                .write(move |s, _| Some(s.update_sets(|o| o.insert(me, (set, element)))))
                .await?;
            "ok".to_string()
        }
        Request::Rm { set, element } => {
            agent
                .write(move |s, _| Some(s.update_sets(|o| o.remove(&(set, element)))))
                .await?;
            "ok".to_string()
        }
        Request::Inc { counter, by } => {
            let name = counter.clone();
            let delta = agent
                .write(move |s, now| s.increment(me, &name, by, now))
                .await?;
            if delta.counters.is_empty() {
                return Err(format!("{counter}: this node's total would overflow"));
            }
            let value = agent
                .read({
                    let counter = counter.clone();
                    move |s| s.counter(&counter)
                })
                .await?;
            format!("{counter} = {value}")
        }
        Request::Show => show(&agent.read(Clone::clone).await?),
        Request::Members => {
            let mut members = gossip.members().await.map_err(text)?;
            members.sort();
            let mut lines = vec![format!("{} members besides this one", members.len())];
            lines.extend(members.iter().map(|m| format!("  {m}")));
            lines.join("\n")
        }
        Request::Stats => {
            let s = gossip.stats().await.map_err(text)?;
            format!(
                "members alive {} suspect {} dead {} left {}\n\
                 sent {} messages, {} bytes; received {} messages, {} bytes\n\
                 refused {} envelopes and {} claims or requests past a bound; \
                 incarnation {}; local health {}; subscribers {}",
                s.members.alive,
                s.members.suspect,
                s.members.dead,
                s.members.left,
                s.messages_out,
                s.bytes_out,
                s.messages_in,
                s.bytes_in,
                s.refused_total(),
                s.bounds.total(),
                s.incarnation,
                s.local_health,
                s.subscribers,
            )
        }
        Request::KeysList => {
            let keys = gossip.keys().await.map_err(text)?;
            keys.iter()
                .map(|k| format!("{}{}", k.id, if k.primary { " primary" } else { "" }))
                .collect::<Vec<_>>()
                .join("\n")
        }
        Request::KeysInstall(key) => {
            format!("installed {}", gossip.install_key(key).await.map_err(text)?)
        }
        Request::KeysUse(id) => {
            gossip.use_key(id).await.map_err(text)?;
            format!("using {id}")
        }
        Request::KeysRemove(id) => {
            gossip.remove_key(id).await.map_err(text)?;
            format!("removed {id}")
        }
        Request::Help => request::HELP.to_string(),
        Request::Quit => {
            agent.stop.notify_one();
            "leaving".to_string()
        }
    })
}

/// Everything a state holds, as `show` prints it.
fn show(state: &AgentState) -> String {
    let mut lines = vec![format!("values ({})", state.values.len())];
    lines.extend(state.values.iter().map(|(k, v)| format!("  {k} = {v}")));
    let mut names: Vec<&str> = state.sets.iter().map(|(s, _)| s.as_str()).collect();
    names.dedup();
    lines.push(format!("sets ({})", names.len()));
    lines.extend(
        names
            .iter()
            .map(|name| format!("  {name}: {}", state.set(name).join(" "))),
    );
    let counters = state.counter_values();
    lines.push(format!("counters ({})", counters.len()));
    lines.extend(
        counters
            .iter()
            .map(|(name, value)| format!("  {name} = {value}")),
    );
    lines.join("\n")
}
