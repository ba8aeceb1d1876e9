//! Agents in one process share their positions and the tasks they claim,
//! over real UDP on 127.0.0.1, each agent a `rumor::net` node with its own
//! socket (a port the OS chose) and the cluster's key.
//!
//! Every agent writes its position, then claims a task; agents 0 and 1 both
//! claim task 0 at once. Each agent prints the moment it sees another's
//! write, with the time since the write was made. The double claim resolves
//! the same way on every agent (last writer wins, by hybrid logical clock),
//! but gossip alone cannot make a claim exclusive: for a task that must have
//! one owner, the agents would need consensus (or a designated owner).
//!
//! Run with `cargo run --release --example agents [agents]` (5 by default,
//! 2 to 50).
#![allow(clippy::print_stdout)]

use std::error::Error;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rumor::crdt::{LwwMap, ReplicaId};
use rumor::net::{Change, Gossip, GossipHandle, Key, Keyring};
use tokio::time::{sleep, timeout, Instant};

/// `"pos/agent-3"` → `"(x, y) @ <wall ms>"`, `"task/0"` → `"agent-1 @ <wall ms>"`.
type Shared = LwwMap<String, String>;

fn wall_us() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}

/// One agent: its node.
struct Agent {
    name: String,
    gossip: GossipHandle<Shared>,
}

impl Agent {
    /// Writes `key = value`, stamped by the node's clock (after every write
    /// it has seen), with the wall time in microseconds (so readers can tell
    /// how long it took).
    async fn write(&mut self, key: String, value: String) -> Result<(), Box<dyn Error>> {
        let value = format!("{value} @ {}", wall_us());
        self.gossip
            .update_stamped(move |s, now| s.insert(key, value, now).unwrap_or_default())
            .await?;
        Ok(())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5)
        .clamp(2, 50);
    // The cluster's key. In production: `Key::generate`, kept in a key file.
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(&ReplicaId::random().as_u128().to_le_bytes());
    bytes[16..].copy_from_slice(&ReplicaId::random().as_u128().to_le_bytes());
    let key = Key::from_bytes(bytes);

    let mut agents: Vec<Agent> = Vec::new();
    let mut first = None;
    for i in 0..count {
        let me = ReplicaId::random();
        let mut builder = Gossip::builder(me, Shared::new())
            .bind("127.0.0.1:0".parse()?)
            .keyring(Keyring::new(key.clone()))
            .cluster("agents-example");
        if let Some(seed) = first {
            builder = builder.seeds([seed]);
        }
        let gossip = builder.start().await?;
        first.get_or_insert(gossip.local_addr());
        agents.push(Agent {
            name: format!("agent-{i}"),
            gossip,
        });
    }
    println!("{count} agents on 127.0.0.1, ports {:?}", {
        let ports: Vec<u16> = agents
            .iter()
            .map(|a| a.gossip.local_addr().port())
            .collect();
        ports
    });

    // Each agent prints what it sees of the others' writes.
    let mut watchers = Vec::new();
    for agent in &agents {
        let mut changes = agent.gossip.subscribe();
        let name = agent.name.clone();
        watchers.push(tokio::spawn(async move {
            while let Some(change) = changes.recv().await {
                let Change::Delta(delta) = change else {
                    continue;
                };
                for (key, value) in delta.iter() {
                    let Some((what, at)) = value.rsplit_once(" @ ") else {
                        continue;
                    };
                    let mine = what.starts_with(&name) || key.ends_with(&name);
                    let Ok(at) = at.parse::<u128>() else { continue };
                    if !mine {
                        let after = wall_us().saturating_sub(at);
                        println!(
                            "{name} sees {key} = {what}  ({:.1} ms after the write)",
                            after as f64 / 1_000.0
                        );
                    }
                }
            }
        }));
    }
    // Let the members find each other.
    sleep(Duration::from_millis(500)).await;

    for (i, agent) in agents.iter_mut().enumerate() {
        let x = i32::try_from(i).unwrap_or(0) * 10;
        let key = format!("pos/{}", agent.name);
        agent.write(key, format!("({x}, 5)")).await?;
    }
    sleep(Duration::from_millis(300)).await;
    // Agents 0 and 1 claim task 0 at once; the others claim tasks of their own.
    for (i, agent) in agents.iter_mut().enumerate() {
        let task = if i < 2 { 0 } else { i };
        let name = agent.name.clone();
        agent.write(format!("task/{task}"), name).await?;
    }

    // Wait until every agent holds every write, then show who owns task 0.
    let expected = 2 * count - 1; // positions, and the tasks (task 0 once)
    let started = Instant::now();
    let all_have = timeout(Duration::from_secs(10), async {
        loop {
            let mut done = true;
            for agent in &agents {
                if agent.gossip.read(|s| s.iter().count()).await.unwrap_or(0) < expected {
                    done = false;
                }
            }
            if done {
                break;
            }
            sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    if all_have.is_err() {
        println!("not every agent had every write after 10 s");
    } else {
        println!(
            "every agent holds all {expected} keys (checked {} ms after the last claim)",
            started.elapsed().as_millis()
        );
    }
    for agent in &agents {
        let owner = agent
            .gossip
            .read(|s| s.get(&"task/0".to_string()).cloned())
            .await?
            .and_then(|v| v.split(" @ ").next().map(str::to_string));
        println!("{} says task 0 belongs to {owner:?}", agent.name);
    }

    for agent in &agents {
        agent.gossip.leave().await?;
        agent.gossip.shutdown().await;
    }
    for watcher in watchers {
        let _ = watcher.await;
    }
    Ok(())
}
