//! `rumor keygen`: a new cluster key, from the operating system's
//! randomness, in its text form (64 hex digits): printed, or written to a
//! file only this user may read (mode 0600), never over an existing one
//! unless `--force`.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

use anyhow::Context as _;
use rand::rngs::StdRng;
use rumor_net::Key;

const EXAMPLES: &str = "\
Examples:
  rumor keygen --out cluster.key     a key file for `rumor node --key-file cluster.key`
  rumor keygen                       print a key (e.g. for `keys install` on a node's stdin)
  rumor keygen --out new.key && rumor keys install new.key --control /run/rumor.sock";

/// The options of `rumor keygen`.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub(crate) struct Args {
    /// Write the key to FILE (mode 0600) instead of printing it.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// Overwrite FILE if it exists (the key in it is lost).
    #[arg(long, requires = "out")]
    pub(crate) force: bool,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    // ChaCha12 seeded from the operating system: a cryptographic generator.
    let mut rng: StdRng = rand::make_rng();
    let key = Key::generate(&mut rng);
    let Some(path) = &args.out else {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", key.to_text().as_str())?;
        out.flush()?;
        return Ok(());
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).mode(0o600);
    if args.force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(|error| {
        if error.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!(
                "{} exists: give --force to overwrite it (the key in it would be lost)",
                path.display()
            )
        } else {
            anyhow::Error::new(error)
                .context(format!("could not write the key to {}", path.display()))
        }
    })?;
    // An existing file keeps its mode when opened: make it private too.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .and_then(|()| file.write_all(format!("{}\n", key.to_text().as_str()).as_bytes()))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("could not write the key to {}", path.display()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "key {} written to {}", key.id(), path.display())?;
    Ok(())
}
