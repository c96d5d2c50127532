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
        let mut child = std::process::Command::new("sh")
            .args(["-c", cmd])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .context("running --password-command")?;
        let mut stdout = child.stdout.take().context("--password-command's output")?;
        let text = read_zeroizing(&mut stdout).context("reading --password-command's output");
        let status = child.wait().context("running --password-command")?;
        let text = text?;
        if !status.success() {
            bail!("--password-command exited with {status}");
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

/// Reads everything from `r` into a buffer zeroized on drop, growing it by hand so that no
/// outgrown copy of the passphrase is left in freed memory (as `Read::read_to_end` would).
fn read_zeroizing(r: &mut impl std::io::Read) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(Vec::with_capacity(256));
    let mut buf = Zeroizing::new([0u8; 256]);
    loop {
        let n = match r.read(buf.as_mut()) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if out.len() + n > out.capacity() {
            let mut bigger = Zeroizing::new(Vec::with_capacity((out.len() + n) * 2));
            bigger.extend_from_slice(&out);
            out = bigger;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

fn first_line(text: &[u8]) -> Zeroizing<Vec<u8>> {
    let end = text.iter().position(|&b| b == b'\n').unwrap_or(text.len());
    let line = &text[..end];
    Zeroizing::new(line.strip_suffix(b"\r").unwrap_or(line).to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_output_is_read_whole() {
        let text: Vec<u8> = (0..10_000).map(|i| b'a' + (i % 26) as u8).collect();
        let got = read_zeroizing(&mut text.as_slice()).unwrap();
        assert_eq!(&got[..], &text[..]);
        assert_eq!(&first_line(b"pass phrase\r\nnext")[..], b"pass phrase");
    }
}
