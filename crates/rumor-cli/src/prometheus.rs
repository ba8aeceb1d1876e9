//! `rumor node --metrics ADDR`: the node's metrics (what `rumor-net`
//! records through the `metrics` facade) as Prometheus text, at
//! `http://ADDR/metrics`.
//!
//! The recorder is `metrics-exporter-prometheus` without its HTTP stack: the
//! node answers `GET` itself, one small request a connection, bounded in
//! size, time and number of connections at once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// The longest request head read, in bytes.
const MAX_REQUEST: usize = 8 * 1024;
/// How long a client may take to send its request and read the answer.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Scrapes answered at once.
const CONNECTIONS: usize = 8;
/// How often the recorder's histograms are rolled over.
const UPKEEP: Duration = Duration::from_secs(5);

/// Installs the Prometheus recorder, binds `addr`, and serves it on this
/// runtime from now on. Returns the bound address.
pub(crate) async fn serve(addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("could not serve metrics on {addr}"))?;
    let local = listener.local_addr()?;
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .context("could not install the metrics recorder")?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(UPKEEP).await;
            upkeep.run_upkeep();
        }
    });
    let permits = Arc::new(Semaphore::new(CONNECTIONS));
    tokio::spawn(async move {
        loop {
            let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                return;
            };
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let handle = handle.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(TIMEOUT, answer(stream, &handle)).await;
                drop(permit);
            });
        }
    });
    Ok(local)
}

/// Reads one request head and answers it: the metrics for `GET /metrics`
/// (or `/`), 404 for another path, 400 for anything else.
async fn answer(mut stream: TcpStream, handle: &PrometheusHandle) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 || head.len() + n > MAX_REQUEST {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let first = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut words = first.split(|&b| b == b' ').filter(|w| !w.is_empty());
    let (status, body) = match (words.next(), words.next()) {
        (Some(b"GET"), Some(b"/metrics" | b"/")) => ("200 OK", handle.render()),
        (Some(b"GET"), Some(_)) => ("404 Not Found", "not found: try /metrics\n".to_string()),
        _ => ("400 Bad Request", "bad request\n".to_string()),
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(reply.as_bytes()).await?;
    stream.shutdown().await
}
