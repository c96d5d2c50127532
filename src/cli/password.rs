//! Where the repository passphrase comes from, as restic users expect: `SECRETSNAP_PASSWORD`,
//! `--password-file`, or `--password-command`; never an argument value. A non-interactive run
//! with none of them is a clear error.

use anyhow::{bail, Context};
use zeroize::Zeroizing;

use super::Global;

pub fn passphrase(g: &Global) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    if let Some(r) = &g.repo_password {
        let p = r
            .resolve()
            .map_err(|e| anyhow::anyhow!("repository passphrase: {e}"))?;
        return Ok(Zeroizing::new(p.as_bytes().to_vec()));
    }
    if let Some(path) = &g.password_file {
        let text = Zeroizing::new(
            std::fs::read(path)
                .with_context(|| format!("reading password file {}", path.display()))?,
        );
        return Ok(first_line(&text));
    }
    if let Some(cmd) = &g.password_command {
        let out = std::process::Command::new("sh")
            .args(["-c", cmd])
            .stderr(std::process::Stdio::inherit())
            .output()
            .context("running --password-command")?;
        let text = Zeroizing::new(out.stdout);
        if !out.status.success() {
            bail!("--password-command exited with {}", out.status);
        }
        return Ok(first_line(&text));
    }
    if let Ok(p) = std::env::var("SECRETSNAP_PASSWORD") {
        return Ok(Zeroizing::new(p.into_bytes()));
    }
    bail!(
        "no repository passphrase: set SECRETSNAP_PASSWORD, or pass --password-file or \
     --password-command"
    )
}

fn first_line(text: &[u8]) -> Zeroizing<Vec<u8>> {
    let end = text.iter().position(|&b| b == b'\n').unwrap_or(text.len());
    let line = &text[..end];
    Zeroizing::new(line.strip_suffix(b"\r").unwrap_or(line).to_vec())
}
