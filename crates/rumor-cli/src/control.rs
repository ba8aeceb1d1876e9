//! The control socket of `rumor node --control PATH`: a Unix socket that
//! takes one command a connection (the language of `rumor node`'s stdin,
//! [`crate::request`]), answers with the reply lines, and closes. `rumor
//! keys ... --control PATH` is its client.
//!
//! Only the node's own user may use it: the socket file is made mode 0600,
//! and a connection from another user id is closed unanswered. A reply
//! whose first line starts with `error:` is a refusal.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::request::MAX_LINE;

/// How long one connection may take to send its command, or a client to
/// get its reply.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(5);
/// The longest reply a client reads.
const MAX_REPLY: u64 = 1024 * 1024;
/// Connections answered at once; more wait in the listen queue.
pub(crate) const CONNECTIONS: usize = 8;

/// A bound control socket; the file is removed when it is dropped.
#[derive(Debug)]
pub(crate) struct ControlSocket {
    pub(crate) listener: UnixListener,
    path: PathBuf,
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Binds the control socket at `path`: a stale socket file (nobody
/// listening) is replaced; a live one, or any other file, is an error.
pub(crate) async fn bind(path: &Path) -> anyhow::Result<ControlSocket> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            anyhow::bail!(
                "control socket {}: the path exists and is not a socket",
                path.display()
            );
        }
        if UnixStream::connect(path).await.is_ok() {
            anyhow::bail!(
                "control socket {}: another node is listening on it",
                path.display()
            );
        }
        std::fs::remove_file(path)
            .with_context(|| format!("control socket {}: could not replace it", path.display()))?;
    }
    let listener = UnixListener::bind(path)
        .with_context(|| format!("could not make the control socket {}", path.display()))?;
    let socket = ControlSocket {
        listener,
        path: path.to_path_buf(),
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).with_context(|| {
        format!(
            "control socket {}: could not make it private",
            path.display()
        )
    })?;
    Ok(socket)
}

/// This process's user id (the owner of `/proc/self`).
pub(crate) fn my_uid() -> Option<u32> {
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// Reads the one command line of a connection (bounded in size and time),
/// if it comes from `uid`.
pub(crate) async fn read_command(stream: &mut UnixStream, uid: Option<u32>) -> Option<String> {
    let peer = stream.peer_cred().ok()?.uid();
    if uid.is_some_and(|me| me != peer) && peer != 0 {
        return None;
    }
    let mut line = Vec::new();
    let mut reader = BufReader::new(stream).take(MAX_LINE as u64 + 1);
    tokio::time::timeout(TIMEOUT, reader.read_until(b'\n', &mut line))
        .await
        .ok()?
        .ok()?;
    if line.len() > MAX_LINE {
        return None;
    }
    String::from_utf8(line).ok()
}

/// Sends `command` to the node at `path` and returns its reply lines.
pub(crate) fn ask(path: &Path, command: &str) -> anyhow::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(path).with_context(|| {
        format!(
            "could not reach a node's control socket at {} (is `rumor node --control {}` running?)",
            path.display(),
            path.display()
        )
    })?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    stream.write_all(format!("{command}\n").as_bytes())?;
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut reply = Vec::new();
    stream
        .take(MAX_REPLY)
        .read_to_end(&mut reply)
        .with_context(|| format!("the node at {} did not answer", path.display()))?;
    if reply.is_empty() {
        anyhow::bail!(
            "the node at {} closed the connection unanswered",
            path.display()
        );
    }
    Ok(String::from_utf8_lossy(&reply).into_owned())
}
