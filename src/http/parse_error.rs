//! problem+json for the requests hyper refuses before any filter sees them.
//!
//! A request line or header hyper cannot parse, headers past its buffer and
//! an over-long URI are answered by hyper itself, with an empty body (`400`,
//! `431`, `414`), and it offers no hook to change that answer. So the
//! connection's stream is wrapped: a write that is exactly such an answer
//! (the whole head, `connection: close`, `content-length: 0`, nothing after
//! it) goes out as the same status with a problem+json body instead. No
//! answer of latchkey's own looks like that: every error it sends has a body.

use crate::error::ApiError;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection's stream whose writes of hyper's own error answers become
/// problem+json.
pub struct ProblemOnParseError<I> {
    inner: I,
    /// The rewritten answer being written: its bytes, how many are out, and
    /// the length of the write it stands for (what hyper is told was taken).
    pending: Option<(Vec<u8>, usize, usize)>,
}

impl<I> ProblemOnParseError<I> {
    /// Wraps `inner`.
    pub fn new(inner: I) -> Self {
        Self {
            inner,
            pending: None,
        }
    }
}

/// The error hyper's head in `buf` stands for, if `buf` is one.
fn hyper_error(buf: &[u8]) -> Option<ApiError> {
    let rest = buf.strip_prefix(b"HTTP/1.1 ")?;
    let error = match rest.get(..4)? {
        b"400 " => ApiError::InvalidRequest("the request line or a header is malformed".into()),
        b"431 " => ApiError::HeadersTooLarge,
        b"414 " => ApiError::UriTooLong,
        _ => return None,
    };
    let head_ends_here = buf.ends_with(b"\r\n\r\n");
    let empty = contains(buf, b"\r\ncontent-length: 0\r\n");
    let closing = contains(buf, b"\r\nconnection: close\r\n");
    (head_ends_here && empty && closing).then_some(error)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `error`'s answer, keeping hyper's `date` header.
fn rewrite(head: &[u8], error: &ApiError) -> Vec<u8> {
    let body = error.problem_body();
    let status = error.status();
    let date = head
        .split(|b| *b == b'\n')
        .find(|line| line.starts_with(b"date: "))
        .unwrap_or(b"");
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\nconnection: close\r\ncontent-type: application/problem+json\r\n");
    out.extend_from_slice(b"x-content-type-options: nosniff\r\ncache-control: no-store\r\n");
    out.extend_from_slice(b"content-length: ");
    out.extend_from_slice(body.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    if !date.is_empty() {
        out.extend_from_slice(date);
        out.push(b'\n');
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    out
}

impl<I: AsyncWrite + Unpin> ProblemOnParseError<I> {
    /// Writes out the pending answer; `Ready(Ok(n))` with the length of the
    /// write it replaced once all of it is out.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        while let Some((bytes, written, stands_for)) = &mut self.pending {
            if *written == bytes.len() {
                let n = *stands_for;
                self.pending = None;
                return Poll::Ready(Ok(n));
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(0))
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for ProblemOnParseError<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for ProblemOnParseError<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.is_none() {
            let Some(error) = hyper_error(buf) else {
                return Pin::new(&mut this.inner).poll_write(cx, buf);
            };
            this.pending = Some((rewrite(buf, &error), 0, buf.len()));
        }
        this.poll_pending(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // hyper writes its error head as a write of its own; anything else
        // passes through untouched.
        let first = bufs.iter().find(|b| !b.is_empty());
        if this.pending.is_some() || first.is_some_and(|b| hyper_error(b).is_some()) {
            let first = first.map_or(&[][..], |b| &b[..]);
            return Pin::new(this).poll_write(cx, first);
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYPER_431: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: Fri, 04 Dec 2026 02:23:38 GMT\r\n\r\n";

    #[test]
    fn only_hypers_own_empty_closing_error_heads_are_rewritten() {
        assert_eq!(hyper_error(HYPER_431), Some(ApiError::HeadersTooLarge));
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\ncontent-length: 120\r\n\r\n";
        assert_eq!(hyper_error(ours), None);
        let with_body = [HYPER_431, b"x"].concat();
        assert_eq!(hyper_error(&with_body), None);
        assert_eq!(
            hyper_error(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"),
            None
        );
    }

    #[test]
    fn a_rewritten_answer_is_problem_json_with_a_matching_length_and_hypers_date() {
        let out = String::from_utf8(rewrite(HYPER_431, &ApiError::HeadersTooLarge)).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{head}"
        );
        assert!(
            head.contains("\r\ncontent-type: application/problem+json\r\n"),
            "{head}"
        );
        assert!(
            head.contains(&format!("\r\ncontent-length: {}\r\n", body.len())),
            "{head}"
        );
        assert!(
            head.contains("\r\ndate: Fri, 04 Dec 2026 02:23:38 GMT"),
            "{head}"
        );
        let problem: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(problem["error"], "headers_too_large");
        assert_eq!(problem["status"], 431);
    }
}
