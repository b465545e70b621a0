//! `latchkey tls self-signed`: a certificate pair for a first HTTPS start.

use super::say;
use crate::app::cli::TlsCommand;
use crate::app::config::Config;
use crate::model::rfc3339;

/// `latchkey tls self-signed`: writes the pair (into the data dir unless
/// `--out`) and prints where, with the `[tls]` lines for config.toml. Needs
/// no store, so it works while the server runs.
pub fn tls(config: &Config, command: TlsCommand, json: bool) -> Result<(), String> {
    let TlsCommand::SelfSigned { hosts, out, force } = command;
    let dir = out.unwrap_or_else(|| config.data_dir.clone());
    let pair = crate::tls::self_signed(&hosts).map_err(|e| e.to_string())?;
    let written = crate::tls::write_pair(&dir, &pair, force).map_err(|e| e.to_string())?;
    // Absolute, so the lines work whatever directory the server starts in.
    let shown = |p: &std::path::Path| {
        std::path::absolute(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string()
    };
    let (cert, key) = (shown(&written.cert), shown(&written.key));
    let not_after = rfc3339(pair.not_after.unix_timestamp());
    say(
        json,
        serde_json::json!({ "cert": cert, "key": key, "hosts": hosts, "not_after": not_after }),
        || {
            format!(
                "wrote {cert} (self-signed for {}, valid until {not_after})\n\
             wrote {key} (private key, readable by its owner only)\n\n\
             Add to config.toml:\n\n[tls]\ncert = {}\nkey = {}",
                hosts.join(", "),
                toml_string(&cert),
                toml_string(&key),
            )
        },
    );
    Ok(())
}

/// `s` as a TOML basic string.
fn toml_string(s: &str) -> String {
    let mut quoted = String::with_capacity(s.len() + 2);
    quoted.push('"');
    for c in s.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}
