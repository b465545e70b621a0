//! Admin endpoints: `POST /api/admin/backup` streams a consistent backup.

use super::{Request, credentials};
use crate::auth::Snapshot;
use crate::error::ApiError;
use bytes::Bytes;
use std::io::Read;
use warp::http::{HeaderValue, header};
use warp::reply::{Reply, Response};

/// Bytes per chunk of the streamed backup.
const CHUNK: usize = 64 * 1024;
/// Chunks read ahead of the client: bounds memory for a slow download.
const CHUNKS_AHEAD: usize = 4;

/// POST /api/admin/backup: the whole store as one backup file, for admins;
/// 403 `insufficient_scope` for others.
pub(super) async fn backup(req: Request) -> Result<Response, ApiError> {
    let caller = credentials::caller(&req).await?;
    let snapshot = req.state.auth.backup(&caller).await?;
    let filename = format!("latchkey-{}.bak", file_stamp(snapshot.created_at()));
    let len = snapshot.len();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(CHUNKS_AHEAD);
    // Reading the spool is file I/O: keep it off the executor. A client that
    // goes away closes the channel, which ends the loop and drops the spool.
    tokio::task::spawn_blocking(move || stream_out(snapshot, &tx));
    let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut response = warp::reply::stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// Sends the snapshot in chunks until it is done or the receiver is gone. A
/// read error ends the body early; the client sees a truncated transfer,
/// which the backup's checksum would refuse anyway.
fn stream_out(mut snapshot: Snapshot, tx: &tokio::sync::mpsc::Sender<std::io::Result<Bytes>>) {
    loop {
        let mut chunk = Vec::with_capacity(CHUNK);
        let item = match (&mut snapshot).take(CHUNK as u64).read_to_end(&mut chunk) {
            Ok(0) => return,
            Ok(_) => Ok(Bytes::from(chunk)),
            Err(e) => {
                tracing::error!(error = %e, "reading a backup spool failed; the download is cut short");
                Err(e)
            }
        };
        let failed = item.is_err();
        if tx.blocking_send(item).is_err() || failed {
            return;
        }
    }
}

/// `20261123T001854Z`: a UTC time that sorts and fits a file name.
fn file_stamp(t: crate::model::UnixTime) -> String {
    let t =
        time::OffsetDateTime::from_unix_timestamp(t).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_stamps_are_utc_and_sortable() {
        assert_eq!(file_stamp(0), "19700101T000000Z");
        assert_eq!(file_stamp(1_795_393_134), "20261123T001854Z");
    }
}
