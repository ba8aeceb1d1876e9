//! `rumor keys`: the keyring of a running `rumor node`, through its control
//! socket (`rumor node --control PATH`). The same commands work on the
//! node's stdin (`keys list`, `keys install KEY`, `keys use ID`, `keys
//! remove ID`).

use std::io::Write;
use std::path::PathBuf;

use rumor_net::KeyId;

use crate::control;
use crate::request::key_id;

const EXAMPLES: &str = "\
Rotating a cluster's key without downtime (every node started with
`--control`; each step on every node before the next step):
  rumor keygen --out new.key
  rumor keys install new.key --control /run/rumor.sock   1. every node accepts the new key
  rumor keys use 1a2b3c4d --control /run/rumor.sock      2. every node seals with it
  rumor keys remove 9f8e7d6c --control /run/rumor.sock   3. every node forgets the old one
  rumor keys list --control /run/rumor.sock
A node seals with the old key until step 2 and opens both until step 3, so
no message is refused at any point. Put the new key first in each node's
key file too: a node reads only its file when it restarts.";

/// The options of `rumor keys`.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Action,
}

/// Which node to talk to.
#[derive(Debug, clap::Args)]
struct Node {
    /// The node's control socket (`rumor node --control PATH`).
    #[arg(long, value_name = "PATH")]
    control: PathBuf,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// The installed keys; `primary` marks the one that seals.
    List {
        #[command(flatten)]
        node: Node,
    },
    /// Accept envelopes sealed with the keys of FILE (a key file, as
    /// `rumor keygen --out` writes) from now on.
    Install {
        /// The key file.
        file: PathBuf,
        #[command(flatten)]
        node: Node,
    },
    /// Seal with the installed key ID from now on.
    Use {
        /// The key's id (8 hex digits, as `list` prints it).
        #[arg(value_parser = key_id)]
        id: KeyId,
        #[command(flatten)]
        node: Node,
    },
    /// Refuse envelopes sealed with the key ID from now on (not the one in
    /// use).
    Remove {
        /// The key's id.
        #[arg(value_parser = key_id)]
        id: KeyId,
        #[command(flatten)]
        node: Node,
    },
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let replies = match &args.action {
        Action::List { node } => vec![control::ask(&node.control, "keys list")?],
        Action::Install { file, node } => {
            let ring = super::node::load_keyring(file)?;
            let mut replies = Vec::new();
            for info in ring.list() {
                if let Some(key) = ring.get(info.id) {
                    let command =
                        zeroize::Zeroizing::new(format!("keys install {}", key.to_text().as_str()));
                    replies.push(control::ask(&node.control, &command)?);
                }
            }
            replies
        }
        Action::Use { id, node } => vec![control::ask(&node.control, &format!("keys use {id}"))?],
        Action::Remove { id, node } => {
            vec![control::ask(&node.control, &format!("keys remove {id}"))?]
        }
    };
    let mut out = std::io::stdout().lock();
    for reply in replies {
        if let Some(error) = reply.strip_prefix("error: ") {
            anyhow::bail!("the node refused: {}", error.trim_end());
        }
        write!(out, "{reply}")?;
    }
    out.flush()?;
    Ok(())
}
