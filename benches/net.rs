//! Real UDP on loopback: rumor's runtime (`rumor::net`) and chitchat 0.13
//! side by side, in one process, on the same machine, the same N and the same
//! gossip interval (100 ms). Printed as markdown tables (copied into
//! docs/BENCHMARKS.md):
//! - time for one update to reach every node (p50, p99, max, nearest rank
//!   over the updates of a row, each written by a different node, one at a
//!   time), at N = 50, 100, 200 and 1,000, and rumor at 1,000 with 10 %
//!   loss injected in its transport (rumor's 1,000 nodes over partial
//!   views, HyParView, as a deployment that large would run);
//! - bytes sent per update (the row's idle rate subtracted), and against
//!   (N − 1) × one delta message;
//! - idle bytes per second per node, once the join's traffic has settled;
//! - the envelope's encode + seal and open + decode throughput for that
//!   delta message, authenticated and in plaintext.
//!
//! Every node binds 127.0.0.1 and nothing else. rumor's nodes bind port 0;
//! chitchat needs its address before it binds (the address is also its
//! identity), so its ports come from the OS too: sockets bound to
//! 127.0.0.1:0 are held until all N ports are known, then closed, and
//! chitchat binds those ports.
//!
//! rumor's bytes are `GossipHandle::stats().bytes_out` (sealed payloads);
//! chitchat's are the `num_bytes_sent` of every send through its own UDP
//! transport, wrapped here to count them (payloads too: neither counts IP or
//! UDP headers).
//!
//! `cargo bench --bench net` runs the full sizes (several minutes, a
//! progress line per row on stderr); `cargo bench --bench net -- --test`
//! (what CI runs) runs 5 nodes of each, a few updates, in seconds.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use chitchat::transport::{RecvOutcome, SendOutcome, Socket, Transport, UdpTransport};
use chitchat::{
    spawn_chitchat, ChitchatConfig, ChitchatEnvelope, ChitchatHandle, ChitchatId,
    FailureDetectorConfig, KeyChangeEvent, ListenerHandle, ProtocolVersion,
};
use rand::SeedableRng;
use rumor::crdt::{codec, OrSet, ReplicaId};
use rumor::gossip::{Body, Config, DeltaId, Message, Strategy, Tree, ViewConfig};
use rumor_net::{
    Change, Cluster, EnvelopeCodec, Gossip, GossipHandle, Key, Keyring, Security, TransportConfig,
};
use tokio::sync::mpsc;
use tokio::time::sleep;

/// The replicated state: each update adds one number.
type Set = OrSet<u64>;

/// The gossip interval of both systems.
const INTERVAL: Duration = Duration::from_millis(100);

/// Each node is given this many of the first nodes as seeds.
const SEEDS: usize = 3;

const LOCALHOST: [u8; 4] = [127, 0, 0, 1];

/// `(update, node index, arrival)`, from every node's subscriber.
type Arrivals = mpsc::UnboundedSender<(u64, usize, Instant)>;

/// The sizes of one run.
struct Plan {
    smoke: bool,
    /// How long the join's traffic may take to settle before idle is measured.
    settle_max: Duration,
    /// The idle measurement.
    idle_window: Duration,
    /// After the last update, before counting bytes (announcements go out on
    /// the next round).
    tail: Duration,
    envelope_iters: usize,
}

/// One system at one size.
struct Row {
    system: String,
    nodes: usize,
    loss: f64,
    /// Time until every node knew every other, or how many did when the wait ended.
    join: String,
    /// Update-to-all times of the updates that reached every node in time.
    latencies: Vec<Duration>,
    updates: usize,
    bytes_per_update: Option<f64>,
    messages_per_update: Option<f64>,
    idle_per_node: Option<f64>,
    idle_messages_per_node: Option<f64>,
    /// CPU time the whole process spent per second while idle, in cores.
    idle_cpu: Option<f64>,
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--test");
    let plan = if smoke {
        Plan {
            smoke,
            settle_max: Duration::from_millis(500),
            idle_window: Duration::from_millis(500),
            tail: Duration::from_millis(200),
            envelope_iters: 1_000,
        }
    } else {
        Plan {
            smoke,
            settle_max: Duration::from_secs(10),
            idle_window: Duration::from_secs(5),
            tail: Duration::from_secs(1),
            envelope_iters: 200_000,
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let load_before = load_average();
    let started = Instant::now();
    let (envelope_rows, delta_message) = envelope_table(plan.envelope_iters);
    println!(
        "### The envelope, one delta message ({} iterations each)\n",
        plan.envelope_iters
    );
    println!("| mode | operation | ns / message | messages / s | MB/s |");
    println!("|---|---|---:|---:|---:|");
    for (mode, op, per, bytes) in envelope_rows {
        let ns = per.as_nanos() as f64;
        println!(
            "| {mode} | {op} | {ns:.0} | {:.0} | {:.1} |",
            1e9 / ns,
            bytes as f64 / ns * 1e3
        );
    }
    println!(
        "\n### Real UDP on loopback, {INTERVAL:?} gossip interval, tokio multi-thread runtime with 2 workers\n"
    );
    println!(
        "load average (1, 5, 15 min) before: {load_before}; {}\n",
        open_files_limit()
    );
    println!("| system | N | loss | join | updates to all | p50 | p99 | max | bytes / update | ÷ (N − 1) × delta msg | msgs / update | idle B/s per node | idle msgs/s per node | idle CPU, cores |");
    println!("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    // Each row is printed as it ends: a run cut short keeps the rows it has.
    let rows = runtime.block_on(run_rows(&plan, delta_message));
    println!(
        "\nload average after: {}; run took {:.0} s. Percentiles: nearest rank over the updates that \
         reached every node. The delta message: one eager push of a one-element `OrSet<u64>` insert, \
         {} bytes sealed (authenticated), {} in plaintext.",
        load_average(),
        started.elapsed().as_secs_f64(),
        delta_message.0,
        delta_message.1
    );
    print_targets(&rows, delta_message.0);
}

async fn run_rows(plan: &Plan, delta_message: (usize, usize)) -> Vec<Row> {
    // `cargo bench --bench net -- rumor:1000 chitchat:100` runs only those rows
    // (to rerun a disturbed row); the row names are `rumor`, `rumor-plaintext`,
    // `rumor-loss`, `rumor-partial`, `rumor-partial-loss` and `chitchat`. The
    // small sizes first, both systems side by side; 1,000 nodes last, rumor
    // there over partial views (full views of 1,000 nodes in one process do
    // not finish joining on 2 cores: `rumor:1000` still runs that row).
    let only: Vec<String> = std::env::args().filter(|a| a.contains(':')).collect();
    let wanted = |name: &str, n: usize| only.is_empty() || only.contains(&format!("{name}:{n}"));
    let mut rows = Vec::new();
    let mut order: Vec<(&str, usize)> = Vec::new();
    if plan.smoke {
        order.extend([("rumor", 5), ("chitchat", 5)]);
    } else {
        order.extend([
            ("rumor", 50),
            ("chitchat", 50),
            ("rumor", 100),
            ("chitchat", 100),
            ("rumor-plaintext", 100),
            ("rumor", 200),
            ("chitchat", 200),
            ("chitchat", 1_000),
            ("rumor-partial", 1_000),
            ("rumor-partial-loss", 1_000),
        ]);
    }
    for (name, n) in order {
        if !wanted(name, n) {
            continue;
        }
        let full = View::Full;
        let partial = View::Partial;
        let row = match name {
            "chitchat" => chitchat_row(plan, n).await,
            "rumor-plaintext" => rumor_row(plan, n, false, 0.0, full).await,
            "rumor-loss" => rumor_row(plan, n, true, 0.1, full).await,
            "rumor-partial" => rumor_row(plan, n, true, 0.0, partial).await,
            "rumor-partial-loss" => rumor_row(plan, n, true, 0.1, partial).await,
            _ => rumor_row(plan, n, true, 0.0, full).await,
        };
        print_row(&row, delta_message);
        rows.push(row);
    }
    rows
}

fn updates_for(plan: &Plan, n: usize) -> usize {
    match (plan.smoke, n) {
        (true, _) => 3,
        (false, ..=200) => 40,
        _ => 10,
    }
}

// ---------------------------------------------------------------- rumor

/// Which membership view rumor's nodes keep.
#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    /// Every member (the default).
    Full,
    /// HyParView: a few links each (`GossipBuilder::partial_view`).
    Partial,
}

async fn rumor_row(plan: &Plan, n: usize, authenticated: bool, loss: f64, view: View) -> Row {
    let system = format!(
        "rumor{}{}",
        if authenticated { "" } else { " (plaintext)" },
        if view == View::Partial {
            " (partial views)"
        } else {
            ""
        }
    );
    eprintln!(
        "net: {system}, N = {n}, loss {:.0} %: starting",
        loss * 100.0
    );
    let key = Key::from_bytes([7; 32]);
    let (arrivals, mut arrived) = mpsc::unbounded_channel();
    let mut nodes: Vec<GossipHandle<Set>> = Vec::with_capacity(n);
    let mut addrs: Vec<SocketAddr> = Vec::with_capacity(n);
    let (join_start, mut full) = (Instant::now(), true);
    for i in 0..n {
        let config = Config {
            strategy: Strategy::Eager,
            interval_ms: INTERVAL.as_millis() as u64,
            ..Config::default()
        };
        let transport = TransportConfig {
            loss,
            loss_seed: i as u64 + 1,
            ..TransportConfig::new(SocketAddr::from((LOCALHOST, 0)))
        };
        let mut builder = Gossip::builder(ReplicaId::from_u128(i as u128 + 1), Set::new())
            .bind(SocketAddr::from((LOCALHOST, 0)))
            .cluster("net-bench")
            .config(config)
            .transport(transport)
            .seeds(addrs.iter().take(SEEDS).copied());
        if view == View::Partial {
            builder = builder.partial_view(ViewConfig::default());
        }
        builder = if authenticated {
            builder.keyring(Keyring::new(key.clone()))
        } else {
            builder.plaintext()
        };
        let node = builder.start().await.expect("a node starts on 127.0.0.1");
        addrs.push(node.local_addr());
        spawn_rumor_subscriber(&node, i, arrivals.clone());
        nodes.push(node);
        // Once a batch could not join in time, only the last one waits.
        if (full && nodes.len().is_multiple_of(JOIN_BATCH)) || nodes.len() == n {
            full &= wait_joined(&system, nodes.len(), |deadline| {
                rumor_full(&nodes, deadline, view)
            })
            .await;
        }
    }
    let join = join_summary(full, join_start, n);
    eprintln!("net: {system}, N = {n}: join {join}");
    let idle = idle_rate(plan, n, || rumor_traffic(&nodes)).await;

    let updates = updates_for(plan, n);
    let before = rumor_traffic(&nodes).await;
    let window = Instant::now();
    let mut latencies = Vec::new();
    let mut tried = 0;
    for k in 0..updates {
        if window.elapsed() > UPDATE_BUDGET {
            eprintln!("net:   stopped after {k} updates: {UPDATE_BUDGET:?} spent");
            break;
        }
        tried += 1;
        let writer = (k * 7 + 1) % n;
        let value = k as u64;
        let node = &nodes[writer];
        let me = node.replica();
        let written = Instant::now();
        node.update(move |s| s.insert(me, value))
            .await
            .expect("the node runs");
        if let Some(took) = all_arrived(
            &mut arrived,
            value,
            writer,
            n,
            written,
            Duration::from_secs(5),
        )
        .await
        {
            latencies.push(took);
        }
    }
    sleep(plan.tail).await;
    let spent = rumor_traffic(&nodes).await;
    let updates = tried;
    let per_update = per_update(before, spent, idle, n, window, updates);
    // At once: one after the other, 1,000 overloaded nodes take minutes.
    let mut stops = tokio::task::JoinSet::new();
    for node in nodes {
        stops.spawn(async move { node.shutdown().await });
    }
    while stops.join_next().await.is_some() {}
    let row = Row {
        system,
        nodes: n,
        loss,
        join,
        latencies,
        updates,
        bytes_per_update: per_update.map(|p| p.0),
        messages_per_update: per_update.map(|p| p.1),
        idle_per_node: idle.map(|i| i.0),
        idle_messages_per_node: idle.map(|i| i.1),
        idle_cpu: idle.map(|i| i.2),
    };
    eprintln!("net: {}", row_summary(&row));
    row
}

fn spawn_rumor_subscriber(node: &GossipHandle<Set>, index: usize, arrivals: Arrivals) {
    let mut changes = node.subscribe();
    tokio::spawn(async move {
        while let Some(change) = changes.recv().await {
            let now = Instant::now();
            if let Change::Delta(delta) = change {
                for &value in delta.iter() {
                    let _ = arrivals.send((value, index, now));
                }
            }
        }
    });
}

/// How many nodes have joined: over full views, those that have every other
/// as a member; over partial views (where `members()` lists a node's links),
/// those with a link. The nodes are asked at once: asked one after the
/// other, 1,000 busy nodes take minutes to answer (each answer waits for
/// its node task's next turn on the runtime).
async fn rumor_full(nodes: &[GossipHandle<Set>], deadline: Instant, view: View) -> usize {
    let Some(limit) = ask_limit(deadline) else {
        return 0;
    };
    let mut asks = tokio::task::JoinSet::new();
    for node in nodes {
        let node = node.clone();
        asks.spawn(async move { tokio::time::timeout(limit, node.members()).await });
    }
    let mut full = 0;
    while let Some(answer) = asks.join_next().await {
        if let Ok(Ok(Ok(members))) = answer {
            let joined = match view {
                View::Full => members.len() + 1 >= nodes.len(),
                View::Partial => !members.is_empty(),
            };
            if joined {
                full += 1;
            }
        }
    }
    full
}

/// Bytes and messages sent, all nodes together (asked at once, as in
/// `rumor_full`).
async fn rumor_traffic(nodes: &[GossipHandle<Set>]) -> (u64, u64) {
    let mut asks = tokio::task::JoinSet::new();
    for node in nodes {
        let node = node.clone();
        asks.spawn(async move { tokio::time::timeout(STATS_LIMIT, node.stats()).await });
    }
    let (mut sum, mut missing) = ((0, 0), 0);
    while let Some(answer) = asks.join_next().await {
        match answer {
            Ok(Ok(Ok(stats))) => {
                sum.0 += stats.bytes_out;
                sum.1 += stats.messages_out;
            }
            _ => missing += 1,
        }
    }
    if missing > 0 {
        eprintln!("net:   {missing} nodes did not give their stats within {STATS_LIMIT:?}");
    }
    sum
}

// ---------------------------------------------------------------- chitchat

/// chitchat's UDP transport, counting the bytes it sends.
struct CountingUdp {
    bytes: Arc<AtomicU64>,
    messages: Arc<AtomicU64>,
}

struct CountingSocket {
    inner: Box<dyn Socket>,
    bytes: Arc<AtomicU64>,
    messages: Arc<AtomicU64>,
}

#[async_trait]
impl Transport for CountingUdp {
    async fn open(&self, listen_addr: SocketAddr) -> anyhow::Result<Box<dyn Socket>> {
        let inner = UdpTransport.open(listen_addr).await?;
        Ok(Box::new(CountingSocket {
            inner,
            bytes: Arc::clone(&self.bytes),
            messages: Arc::clone(&self.messages),
        }))
    }
}

#[async_trait]
impl Socket for CountingSocket {
    fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        self.inner.local_addr()
    }

    async fn send(
        &mut self,
        to: SocketAddr,
        envelope: ChitchatEnvelope,
    ) -> anyhow::Result<SendOutcome> {
        let outcome = self.inner.send(to, envelope).await?;
        self.bytes
            .fetch_add(outcome.num_bytes_sent as u64, Ordering::Relaxed);
        self.messages.fetch_add(1, Ordering::Relaxed);
        Ok(outcome)
    }

    async fn recv(&mut self) -> anyhow::Result<RecvOutcome> {
        self.inner.recv().await
    }
}

/// `n` ports on 127.0.0.1 that the OS chose: all held until all are known
/// (so none is handed out twice), then released for chitchat to bind.
fn free_ports(n: usize) -> Vec<SocketAddr> {
    let sockets: Vec<std::net::UdpSocket> = (0..n)
        .map(|_| {
            std::net::UdpSocket::bind(SocketAddr::from((LOCALHOST, 0)))
                .expect("a UDP port on 127.0.0.1")
        })
        .collect();
    sockets
        .iter()
        .map(|s| s.local_addr().expect("a bound socket has an address"))
        .collect()
}

async fn chitchat_row(plan: &Plan, n: usize) -> Row {
    let system = "chitchat 0.13".to_string();
    eprintln!("net: {system}, N = {n}: starting");
    let bytes = Arc::new(AtomicU64::new(0));
    let messages = Arc::new(AtomicU64::new(0));
    let transport = CountingUdp {
        bytes: Arc::clone(&bytes),
        messages: Arc::clone(&messages),
    };
    let traffic = || async {
        (
            bytes.load(Ordering::Relaxed),
            messages.load(Ordering::Relaxed),
        )
    };
    let (arrivals, mut arrived) = mpsc::unbounded_channel();
    let addrs = free_ports(n);
    let generation = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut nodes: Vec<ChitchatHandle> = Vec::with_capacity(n);
    let mut listeners: Vec<ListenerHandle> = Vec::with_capacity(n);
    let (join_start, mut full) = (Instant::now(), true);
    for (i, &addr) in addrs.iter().enumerate() {
        let config = ChitchatConfig {
            chitchat_id: ChitchatId::new(format!("node-{i}"), generation, addr),
            cluster_id: "net-bench".to_string(),
            gossip_interval: INTERVAL,
            listen_addr: addr,
            seed_nodes: addrs
                .iter()
                .take(SEEDS.min(i))
                .map(ToString::to_string)
                .collect(),
            failure_detector_config: FailureDetectorConfig::default(),
            marked_for_deletion_grace_period: Duration::from_secs(3_600),
            catchup_callback: None,
            extra_liveness_predicate: None,
            protocol_version: ProtocolVersion::V1,
        };
        let node = spawn_chitchat(config, Vec::new(), &transport)
            .await
            .expect("chitchat starts on 127.0.0.1");
        let sender = arrivals.clone();
        let listener = node
            .with_chitchat(move |chitchat| {
                let sender = sender.clone();
                chitchat.subscribe_event("u", move |event: KeyChangeEvent<'_>| {
                    if let Ok(value) = event.key.parse::<u64>() {
                        let _ = sender.send((value, i, Instant::now()));
                    }
                })
            })
            .await;
        listeners.push(listener);
        nodes.push(node);
        // Once a batch could not join in time, only the last one waits.
        if (full && nodes.len().is_multiple_of(JOIN_BATCH)) || nodes.len() == n {
            full &= wait_joined(&system, nodes.len(), |deadline| {
                chitchat_full(&nodes, deadline)
            })
            .await;
        }
    }
    let join = join_summary(full, join_start, n);
    eprintln!("net: {system}, N = {n}: join {join}");
    let idle = idle_rate(plan, n, traffic).await;

    let updates = updates_for(plan, n).min(if plan.smoke { 3 } else { 20 });
    let before = traffic().await;
    let window = Instant::now();
    let mut latencies = Vec::new();
    let mut tried = 0;
    for k in 0..updates {
        if window.elapsed() > UPDATE_BUDGET {
            eprintln!("net:   stopped after {k} updates: {UPDATE_BUDGET:?} spent");
            break;
        }
        tried += 1;
        let writer = (k * 7 + 1) % n;
        let value = k as u64;
        let written = Instant::now();
        nodes[writer]
            .with_chitchat(move |chitchat| chitchat.self_node_state().set(format!("u{value}"), "1"))
            .await;
        if let Some(took) = all_arrived(
            &mut arrived,
            value,
            writer,
            n,
            written,
            Duration::from_secs(20),
        )
        .await
        {
            latencies.push(took);
        }
    }
    sleep(plan.tail).await;
    let spent = traffic().await;
    let updates = tried;
    let per_update = per_update(before, spent, idle, n, window, updates);
    drop(listeners);
    let mut stops = tokio::task::JoinSet::new();
    for node in nodes {
        stops.spawn(async move { node.shutdown().await });
    }
    while stops.join_next().await.is_some() {}
    let row = Row {
        system,
        nodes: n,
        loss: 0.0,
        join,
        latencies,
        updates,
        bytes_per_update: per_update.map(|p| p.0),
        messages_per_update: per_update.map(|p| p.1),
        idle_per_node: idle.map(|i| i.0),
        idle_messages_per_node: idle.map(|i| i.1),
        idle_cpu: idle.map(|i| i.2),
    };
    eprintln!("net: {}", row_summary(&row));
    row
}

/// How many nodes know the state of every node.
/// How many nodes know the state of every node (asked at once).
async fn chitchat_full(nodes: &[ChitchatHandle], deadline: Instant) -> usize {
    let Some(limit) = ask_limit(deadline) else {
        return 0;
    };
    let n = nodes.len();
    let mut asks = tokio::task::JoinSet::new();
    for node in nodes {
        let chitchat = node.chitchat();
        asks.spawn(async move {
            tokio::time::timeout(limit, async { chitchat.lock().await.node_states().len() }).await
        });
    }
    let mut full = 0;
    while let Some(answer) = asks.join_next().await {
        if matches!(answer, Ok(Ok(known)) if known >= n) {
            full += 1;
        }
    }
    full
}

// ---------------------------------------------------------------- both

/// Nodes start in batches of this many; each batch waits until every node
/// started so far knows every other (at most `BATCH_LIMIT`), as `members()`
/// full, before the next starts. All 1,000 at once is a join storm: see
/// docs/BENCHMARKS.md.
const JOIN_BATCH: usize = 100;
const BATCH_LIMIT: Duration = Duration::from_secs(30);
/// The updates of one row, at most (then the row ends with those written).
const UPDATE_BUDGET: Duration = Duration::from_secs(60);
/// One node's answer (its members, its state), at most.
const ASK_LIMIT: Duration = Duration::from_secs(5);
/// One node's stats, at most (a node that misses it is left out of the sum, and said so).
const STATS_LIMIT: Duration = Duration::from_secs(30);

/// Waits until `count()` says all `started` nodes are full; false if
/// `BATCH_LIMIT` passed first.
async fn wait_joined<F, Fut>(system: &str, started: usize, count: F) -> bool
where
    F: Fn(Instant) -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let start = Instant::now();
    loop {
        let full = count(start + BATCH_LIMIT).await;
        if full == started {
            eprintln!(
                "net:   {system}: {started} nodes know each other ({:.1} s)",
                start.elapsed().as_secs_f64()
            );
            return true;
        }
        if start.elapsed() > BATCH_LIMIT {
            eprintln!(
                "net:   {system}: {full}/{started} nodes know every other after {:.1} s; going on",
                start.elapsed().as_secs_f64()
            );
            return false;
        }
        sleep(Duration::from_millis(100)).await;
    }
}

/// `ASK_LIMIT`, or what is left before `deadline`; `None` once it passed.
fn ask_limit(deadline: Instant) -> Option<Duration> {
    let left = deadline.checked_duration_since(Instant::now())?;
    Some(left.min(ASK_LIMIT))
}

fn join_summary(full: bool, start: Instant, n: usize) -> String {
    let batches = if n > JOIN_BATCH {
        format!(", {JOIN_BATCH} at a time")
    } else {
        String::new()
    };
    format!(
        "{}{:.1} s{batches}",
        if full { "" } else { "incomplete, " },
        start.elapsed().as_secs_f64()
    )
}

/// Waits until `value` has arrived at every node but the writer; the time
/// from the write to the last arrival, or `None` after `limit`.
async fn all_arrived(
    arrived: &mut mpsc::UnboundedReceiver<(u64, usize, Instant)>,
    value: u64,
    writer: usize,
    n: usize,
    written: Instant,
    limit: Duration,
) -> Option<Duration> {
    let mut seen = HashSet::new();
    let mut last = written;
    let deadline = tokio::time::Instant::from_std(written + limit);
    while seen.len() + 1 < n {
        match tokio::time::timeout_at(deadline, arrived.recv()).await {
            Ok(Some((v, node, at))) => {
                if v == value && node != writer && seen.insert(node) {
                    last = last.max(at);
                }
            }
            Ok(None) | Err(_) => {
                eprintln!(
                    "net:   update {value} reached {}/{} nodes within {limit:?}",
                    seen.len() + 1,
                    n
                );
                return None;
            }
        }
    }
    Some(last - written)
}

/// Bytes and messages per update: what was sent from `before` to `after`
/// (the updates and `tail`), less the idle rate over that time.
fn per_update(
    before: (u64, u64),
    after: (u64, u64),
    idle: Option<(f64, f64, f64)>,
    n: usize,
    window: Instant,
    updates: usize,
) -> Option<(f64, f64)> {
    let (idle_bytes, idle_messages, _) = idle?;
    let secs = window.elapsed().as_secs_f64() * n as f64;
    let less_idle = |spent: u64, rate: f64| (spent as f64 - rate * secs).max(0.0) / updates as f64;
    Some((
        less_idle(after.0.saturating_sub(before.0), idle_bytes),
        less_idle(after.1.saturating_sub(before.1), idle_messages),
    ))
}

/// Idle bytes and messages per second per node, and the process's CPU
/// time per second (the stats asks included): once the per-second byte
/// rate stops falling (the join's traffic has settled, or `settle_max`
/// passed), the rates over `idle_window`.
async fn idle_rate<F, Fut>(plan: &Plan, n: usize, traffic: F) -> Option<(f64, f64, f64)>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = (u64, u64)>,
{
    let bytes = || async { traffic().await.0 };
    let step = if plan.smoke {
        Duration::from_millis(250)
    } else {
        Duration::from_secs(1)
    };
    let settle = Instant::now();
    let mut previous = f64::INFINITY;
    loop {
        let (b0, t0) = (bytes().await, Instant::now());
        sleep(step).await;
        let rate = (bytes().await - b0) as f64 / t0.elapsed().as_secs_f64();
        if rate >= 0.9 * previous || settle.elapsed() > plan.settle_max {
            break;
        }
        previous = rate;
    }
    let (b0, t0, cpu0) = (traffic().await, Instant::now(), cpu_seconds());
    sleep(plan.idle_window).await;
    let (b1, cpu1) = (traffic().await, cpu_seconds());
    let secs = t0.elapsed().as_secs_f64();
    let per = secs * n as f64;
    Some((
        b1.0.checked_sub(b0.0)? as f64 / per,
        b1.1.checked_sub(b0.1)? as f64 / per,
        (cpu1? - cpu0?) / secs,
    ))
}

/// Nearest rank.
fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(
        || "–".to_string(),
        |d| format!("{:.1} ms", d.as_secs_f64() * 1e3),
    )
}

fn quantiles(row: &Row) -> [Option<Duration>; 3] {
    let mut sorted = row.latencies.clone();
    sorted.sort();
    [
        percentile(&sorted, 50.0),
        percentile(&sorted, 99.0),
        sorted.last().copied(),
    ]
}

fn row_summary(row: &Row) -> String {
    let [p50, p99, max] = quantiles(row);
    format!(
        "{}, N = {}: {}/{} updates to all, p50 {} p99 {} max {}, {:.0} B/update, idle {:.1} B/s/node",
        row.system,
        row.nodes,
        row.latencies.len(),
        row.updates,
        ms(p50),
        ms(p99),
        ms(max),
        row.bytes_per_update.unwrap_or(f64::NAN),
        row.idle_per_node.unwrap_or(f64::NAN)
    )
}

fn print_row(row: &Row, delta_message: (usize, usize)) {
    let [p50, p99, max] = quantiles(row);
    let message = if row.system.contains("plaintext") {
        delta_message.1
    } else {
        delta_message.0
    };
    // Per-update traffic means nothing while updates do not reach every node
    // (a join still under way swamps it).
    let complete = row.latencies.len() == row.updates;
    let (bytes, ratio) = match row.bytes_per_update.filter(|_| complete) {
        Some(b) if row.system.starts_with("rumor") => (
            format!("{b:.0}"),
            format!("{:.2}", b / ((row.nodes - 1) * message) as f64),
        ),
        Some(b) => (format!("{b:.0}"), "–".to_string()),
        None => ("–".to_string(), "–".to_string()),
    };
    println!(
        "| {} | {} | {:.0} % | {} | {}/{} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        row.system,
        row.nodes,
        row.loss * 100.0,
        row.join,
        row.latencies.len(),
        row.updates,
        ms(p50),
        ms(p99),
        ms(max),
        bytes,
        ratio,
        one_decimal(row.messages_per_update.filter(|_| complete)),
        row.idle_per_node
            .map_or_else(|| "–".to_string(), |b| format!("{b:.0}")),
        one_decimal(row.idle_messages_per_node),
        row.idle_cpu
            .map_or_else(|| "–".to_string(), |c| format!("{c:.2}")),
    );
}

fn one_decimal(x: Option<f64>) -> String {
    x.map_or_else(|| "–".to_string(), |x| format!("{x:.1}"))
}

/// The DESIGN §5 targets this run can check, each with its margin.
fn print_targets(rows: &[Row], delta_message: usize) {
    let find = |system: &str, n: usize, loss: f64| {
        rows.iter()
            .find(|r| r.system == system && r.nodes == n && (r.loss - loss).abs() < 1e-9)
    };
    println!("\nTargets (DESIGN.md §5):\n");
    if let (Some(r), Some(c)) = (find("rumor", 100, 0.0), find("chitchat 0.13", 100, 0.0)) {
        let ([rp50, ..], [cp50, ..]) = (quantiles(r), quantiles(c));
        if let (Some(rp50), Some(cp50)) = (rp50, cp50) {
            let ratio = cp50.as_secs_f64() / rp50.as_secs_f64();
            println!(
                "- N = 100, median update-to-all ≥ 100× lower than chitchat's: {ratio:.0}× ({}).",
                if ratio >= 100.0 { "met" } else { "missed" }
            );
        }
        if let (Some(ri), Some(ci)) = (r.idle_per_node, c.idle_per_node) {
            let ratio = ri / ci;
            println!(
                "- N = 100, idle bytes/s per node ≤ 1/1,000 of chitchat's: 1/{:.0} ({}).",
                1.0 / ratio,
                if ratio <= 1e-3 { "met" } else { "missed" }
            );
        }
    }
    for r in rows
        .iter()
        .filter(|r| r.system == "rumor" && r.loss == 0.0 && r.latencies.len() == r.updates)
    {
        if let Some(b) = r.bytes_per_update {
            let ratio = b / ((r.nodes - 1) * delta_message) as f64;
            println!(
                "- N = {}, bytes per update ≤ 2 × (N − 1) × the delta message: {ratio:.2} × ({}).",
                r.nodes,
                if ratio <= 2.0 { "met" } else { "missed" }
            );
        }
    }
    let partial_or_full = |loss: f64| {
        find("rumor (partial views)", 1_000, loss).or_else(|| find("rumor", 1_000, loss))
    };
    for (loss, target) in [(0.0, 25.0), (0.1, 500.0)] {
        if let Some(r) = partial_or_full(loss) {
            let [_, p99, _] = quantiles(r);
            let complete = r.latencies.len() == r.updates;
            println!(
                "- N = 1,000 ({}), {:.0} % loss, p99 update-to-all ≤ {target:.0} ms: {} over {}/{} updates ({}).",
                r.system,
                loss * 100.0,
                ms(p99),
                r.latencies.len(),
                r.updates,
                match p99 {
                    Some(p) if complete && p.as_secs_f64() * 1e3 <= target => "met",
                    _ => "missed",
                }
            );
        }
    }
}

// ---------------------------------------------------------------- envelope

/// `(mode, operation, time per message, bytes per message)`.
type EnvelopeRow = (&'static str, &'static str, Duration, usize);

/// Encode + seal and open + decode of one delta message, authenticated and
/// in plaintext, and the sealed size of the message (authenticated,
/// plaintext).
fn envelope_table(iters: usize) -> (Vec<EnvelopeRow>, (usize, usize)) {
    let mut state = Set::new();
    let delta = state.insert(ReplicaId::from_u128(1), 42);
    let message: Message<Set, SocketAddr> = Message::new(Body::Tree(Tree::Gossip {
        id: DeltaId {
            origin: SocketAddr::from((LOCALHOST, 40_000)),
            // Epochs are random u64s: a large one, as on the wire.
            epoch: 0x9e37_79b9_7f4a_7c15,
            seq: 1,
        },
        delta: Arc::new(delta),
        seal: None,
        hop: 0,
    }));
    let key = Key::from_bytes([7; 32]);
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut rows = Vec::new();
    let mut sizes = [0; 2];
    for (slot, (mode, security)) in [
        ("authenticated", Security::Keys(Keyring::new(key))),
        ("plaintext", Security::Plaintext),
    ]
    .into_iter()
    .enumerate()
    {
        let mut sealer = EnvelopeCodec::new(
            security.clone(),
            Cluster::new("bench"),
            ReplicaId::from_u128(1),
        );
        let mut opener =
            EnvelopeCodec::new(security, Cluster::new("bench"), ReplicaId::from_u128(2));
        let mut sealed = Vec::with_capacity(iters);
        let start = Instant::now();
        // Each envelope a millisecond after the one before, as in envelope.rs: the
        // replay memory holds a bounded number of nonces per millisecond, and
        // forgets the oldest as a busy node's does.
        for i in 0..iters as u64 {
            let bytes = codec::encode(&message).expect("the message encodes");
            sealed.push(sealer.seal(&bytes, now_ms + i, &mut rng).expect("it seals"));
        }
        let seal = start.elapsed() / iters as u32;
        let size = sealed[0].len();
        sizes[slot] = size;
        let start = Instant::now();
        let mut opened = 0usize;
        for (i, envelope) in (0..).zip(&sealed) {
            if opener
                .open_message::<Message<Set, SocketAddr>>(envelope, 2_048, now_ms + i)
                .is_ok()
            {
                opened += 1;
            }
        }
        let open = start.elapsed() / iters as u32;
        assert_eq!(opened, iters, "every envelope opens and decodes");
        rows.push((mode, "encode + seal", seal, size));
        rows.push((mode, "open + decode", open, size));
    }
    (rows, (sizes[0], sizes[1]))
}

// ---------------------------------------------------------------- machine

/// User + system CPU time of this process, from /proc/self/stat (in clock
/// ticks of 1/100 s, Linux's USER_HZ).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = stat.rsplit_once(") ")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".to_string(),
        |s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}

/// 1,000 nodes hold 2,000 sockets (rumor: UDP + TCP each; chitchat: UDP);
/// the soft limit is printed rather than raised (no `unsafe` here).
fn open_files_limit() -> String {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    format!("open files limit {} (soft) / {} (hard)", f[3], f[4])
                })
        })
        .unwrap_or_else(|| "open files limit unknown".to_string())
}
