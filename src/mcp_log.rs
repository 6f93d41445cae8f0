//! Logs in `mcp` mode: every event goes to stderr as in the other commands, and to the client
//! as a `notifications/message` when at or above the level it set (`logging/setLevel`;
//! `warning` until it does). Which events exist at all is `RUST_LOG`'s choice (default `info`
//! here).

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;

use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedSender;
use tracing::Level;
use tracing_subscriber::fmt::MakeWriter;

/// MCP's levels (RFC 5424's), least severe first: a level's rank is its index.
const LEVELS: [&str; 8] = [
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
];

/// The rank of the least severe level sent to the client.
pub(crate) static LEVEL: AtomicU8 = AtomicU8::new(3);

/// Where notifications go while the session lasts.
static OUT: Mutex<Option<UnboundedSender<String>>> = Mutex::new(None);

/// The rank of an MCP level name.
pub(crate) fn rank(level: &str) -> Option<u8> {
    LEVELS
        .iter()
        .position(|l| *l == level)
        .and_then(|i| u8::try_from(i).ok())
}

fn rank_of(level: Level) -> u8 {
    match level {
        Level::ERROR => 4,
        Level::WARN => 3,
        Level::INFO => 1,
        Level::DEBUG | Level::TRACE => 0,
    }
}

/// Installs the logger, sending to the client through `out`.
pub(crate) fn init(out: UnboundedSender<String>, json: bool) {
    use tracing_subscriber::EnvFilter;
    *OUT.lock().expect("log sink") = Some(out);
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info"))
        .add_directive("aws_sigv4=info".parse().expect("directive"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Tee { json });
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Ends sending to the client (the session is over), so that its writer can finish.
pub(crate) fn stop() {
    OUT.lock().expect("log sink").take();
}

/// Makes one [`Line`] per event.
struct Tee {
    json: bool,
}

impl<'a> MakeWriter<'a> for Tee {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line {
            buf: Vec::new(),
            rank: 3,
            json: self.json,
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Line {
        Line {
            buf: Vec::new(),
            rank: rank_of(*meta.level()),
            json: self.json,
        }
    }
}

/// One formatted event, written out when dropped.
struct Line {
    buf: Vec<u8>,
    rank: u8,
    json: bool,
}

impl Write for Line {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        let _ = std::io::stderr().write_all(&self.buf);
        if self.rank < LEVEL.load(Ordering::Relaxed) {
            return;
        }
        let text = String::from_utf8_lossy(&self.buf);
        let text = text.trim_end();
        let data = if self.json {
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.into()))
        } else {
            Value::String(text.into())
        };
        let message = json!({
            "jsonrpc": "2.0",
            "method": "notifications/message",
            "params": {"level": LEVELS[usize::from(self.rank)], "logger": "s3-connector", "data": data},
        });
        if let Some(out) = OUT.lock().expect("log sink").as_ref() {
            let _ = out.send(message.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_rank_by_severity() {
        assert_eq!(rank("debug"), Some(0));
        assert_eq!(rank("warning"), Some(3));
        assert_eq!(rank("emergency"), Some(7));
        assert_eq!(rank("verbose"), None);
        assert!(rank_of(Level::ERROR) > rank_of(Level::WARN));
        assert_eq!(LEVELS[usize::from(rank_of(Level::INFO))], "info");
    }
}
