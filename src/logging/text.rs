//! The text log line, written by hand: the same line tracing-subscriber's
//! default format writes without colours (`TIMESTAMP LEVEL TARGET: message
//! name=value ...`, strings quoted as `{:?}` quotes them), at a fraction of
//! the cost. Its formatter styles every field name through nu_ansi_term
//! even with colours off and sends every value through `core::fmt`:
//! callgrind put the access line at about 11,800 instructions a request,
//! a third of a token check.
//!
//! Used when the log is not a terminal; a terminal keeps the coloured
//! default. latchkey opens no spans, so none are written.

use super::UtcMicros;
use std::fmt;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The plain text line.
pub struct PlainText;

impl<S, N> FormatEvent<S, N> for PlainText
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        UtcMicros.format_time(&mut writer)?;
        let meta = event.metadata();
        writer.write_str(level(*meta.level()))?;
        writer.write_str(meta.target())?;
        writer.write_char(':')?;
        let mut fields = Fields {
            writer: &mut writer,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_char('\n')
    }
}

/// The level as the default format pads it, between its spaces.
fn level(level: Level) -> &'static str {
    match level {
        Level::TRACE => " TRACE ",
        Level::DEBUG => " DEBUG ",
        Level::INFO => "  INFO ",
        Level::WARN => "  WARN ",
        Level::ERROR => " ERROR ",
    }
}

/// Writes each field as ` name=value`, the message as ` message`.
struct Fields<'a, 'w> {
    writer: &'a mut Writer<'w>,
    result: fmt::Result,
}

impl Fields<'_, '_> {
    fn name(&mut self, field: &Field) -> fmt::Result {
        let name = field.name();
        self.writer.write_char(' ')?;
        self.writer
            .write_str(name.strip_prefix("r#").unwrap_or(name))?;
        self.writer.write_char('=')
    }

    fn with(&mut self, write: impl FnOnce(&mut Self) -> fmt::Result) {
        if self.result.is_ok() {
            self.result = write(self);
        }
    }
}

impl Visit for Fields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.with(|f| {
            if field.name() == "message" {
                f.writer.write_char(' ')?;
                return f.writer.write_str(value);
            }
            f.name(field)?;
            quoted(f.writer, value)
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.with(|f| {
            f.name(field)?;
            f.writer.write_str(itoa::Buffer::new().format(value))
        });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.with(|f| {
            f.name(field)?;
            f.writer.write_str(itoa::Buffer::new().format(value))
        });
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.with(|f| {
            f.name(field)?;
            f.writer.write_str(if value { "true" } else { "false" })
        });
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.with(|f| {
            f.name(field)?;
            if value.is_finite() {
                f.writer.write_str(ryu::Buffer::new().format_finite(value))
            } else {
                write!(f.writer, "{value:?}")
            }
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.with(|f| {
            if field.name() == "message" {
                return write!(f.writer, " {value:?}");
            }
            f.name(field)?;
            write!(f.writer, "{value:?}")
        });
    }
}

/// `value` as `{:?}` writes a string: quoted, with quotes, backslashes and
/// anything unprintable escaped. Plain printable ASCII, nearly every value
/// logged, is copied as it is.
fn quoted(writer: &mut Writer<'_>, value: &str) -> fmt::Result {
    let plain = value
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\');
    if !plain {
        return write!(writer, "{value:?}");
    }
    writer.write_char('"')?;
    writer.write_str(value)?;
    writer.write_char('"')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Lines;
        fn make_writer(&'a self) -> Lines {
            self.clone()
        }
    }

    /// Logs the same events through `subscriber` and returns the text
    /// after each line's timestamp.
    fn log_with(plain: bool) -> String {
        let lines = Lines::default();
        let builder = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_timer(UtcMicros)
            .with_max_level(Level::TRACE)
            .with_writer(lines.clone());
        let events = || {
            let peer: std::net::IpAddr = "127.0.0.1".parse().unwrap();
            tracing::info!(target: "latchkey::access", method = %"GET", path = "/api/users/7", status = 200u16, elapsed_ms = 0.567, client = %peer, request_id = "abc-1", "request");
            tracing::warn!(
                dropped = 3u64,
                total = -4i64,
                ok = true,
                "the log's \"writer\" fell behind"
            );
            tracing::error!(error = ?std::io::Error::other("disk"), path = "tab\there\u{1b}", "failed");
            tracing::debug!(
                r#type = "x",
                odd = f64::NAN,
                tiny = 1e-7,
                "raw names and odd floats"
            );
        };
        if plain {
            tracing::subscriber::with_default(builder.event_format(PlainText).finish(), events);
        } else {
            tracing::subscriber::with_default(builder.finish(), events);
        }
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| &l["2026-12-04T02:12:41.900869Z".len()..])
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_plain_line_is_the_default_formats_line_without_colours() {
        let (plain, default) = (log_with(true), log_with(false));
        assert_eq!(plain, default);
        assert!(plain.contains("  INFO latchkey::access: request method=GET path=\"/api/users/7\" status=200 elapsed_ms=0.567 client=127.0.0.1 request_id=\"abc-1\""), "{plain}");
    }
}
