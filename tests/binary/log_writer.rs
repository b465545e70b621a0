//! The log's writer, seen from outside: a log nobody reads never holds up a
//! request (lines are dropped and counted instead), and a clean stop writes
//! out every line it queued.

use crate::support::{
    ChildGuard, EXIT_TIMEOUT, START_TIMEOUT, cheap_hashing, latchkey, listening_addr, workspace,
};
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Requests sent while nobody reads the log: at about 150 bytes a line,
/// several times what the pipe (64 KiB), the writer's buffer (64 KiB) and a
/// 64-line queue can hold.
const UNREAD_REQUESTS: usize = 4000;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// `n` GETs of `url` from 8 concurrent clients; returns how many got a 200.
async fn hammer(url: &str, n: usize) -> usize {
    let client = client();
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let (client, url) = (client.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut ok = 0;
            for _ in (worker..n).step_by(8) {
                let response = client.get(&url).send().await.unwrap();
                ok += usize::from(response.status() == 200);
            }
            ok
        }));
    }
    let mut ok = 0;
    for task in tasks {
        ok += task.await.unwrap();
    }
    ok
}

/// The value of an unlabelled counter in Prometheus text.
fn counter(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_nobody_reads_holds_up_no_request_and_its_dropped_lines_are_counted() {
    let (_tmp, data) = workspace();
    let mut cmd = latchkey(data.parent().unwrap());
    cheap_hashing(&mut cmd)
        .env("LATCHKEY_METRICS__ENABLED", "true")
        .env("LATCHKEY_LOG__QUEUE_LINES", "64")
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data);
    let mut child = ChildGuard(cmd.spawn().unwrap());
    let mut stderr = BufReader::new(child.0.stderr.take().unwrap());
    // Read up to the address, then stop reading: the pipe fills, and the
    // log's writer thread blocks on it as on a stalled disk or journal.
    let addr = read_until_listening(&mut stderr);
    let url = |path: &str| format!("http://{addr}{path}");

    let answered = tokio::time::timeout(
        Duration::from_secs(120),
        hammer(&url("/healthz"), UNREAD_REQUESTS),
    )
    .await
    .expect("requests stalled behind a log nobody reads");
    assert_eq!(answered, UNREAD_REQUESTS);

    let scrape = client().get(url("/metrics")).send().await.unwrap();
    let text = scrape.text().await.unwrap();
    let dropped = counter(&text, "latchkey_log_dropped_lines_total");
    assert!(
        dropped > 0 && dropped <= UNREAD_REQUESTS as u64 + 16,
        "dropped {dropped} of about {UNREAD_REQUESTS} lines"
    );

    // Reading again unblocks the writer; within a few seconds the log
    // itself says that lines were lost.
    let (_, captured) = crate::support::drain(stderr);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !captured.so_far().contains("log lines were dropped") {
        assert!(
            Instant::now() < deadline,
            "the log never said it dropped lines:\n{}",
            captured.so_far()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    terminate(&mut child);
    let log = captured.all();
    assert!(log.contains("stopped; store flushed"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_of_a_clean_stops_last_second_reaches_the_log_file() {
    let (tmp, data) = workspace();
    let log_path = tmp.path().join("latchkey.log");
    let log_file = std::fs::File::create(&log_path).unwrap();
    let mut cmd = latchkey(data.parent().unwrap());
    cheap_hashing(&mut cmd)
        .stderr(Stdio::from(log_file))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data);
    let mut child = ChildGuard(cmd.spawn().unwrap());
    let addr = wait_for_address_in(&log_path);

    // Clients keep asking until the server stops answering; each request
    // names itself, so the log can be searched for every answered one.
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (stop, next, client) = (Arc::clone(&stop), Arc::clone(&next), client());
        clients.push(tokio::spawn(async move {
            let mut answered = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let id = format!("last-second-{}", next.fetch_add(1, Ordering::Relaxed));
                let sent = client
                    .get(format!("http://{addr}/healthz"))
                    .header("x-request-id", &id)
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status() == 200 => answered.push(id),
                    Ok(_) | Err(_) => break,
                }
            }
            answered
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let signalled = next.load(Ordering::Relaxed);
    terminate(&mut child);
    stop.store(true, Ordering::Relaxed);
    let mut answered = Vec::new();
    for c in clients {
        answered.extend(c.await.unwrap());
    }
    assert!(
        signalled > 50,
        "only {signalled} requests before the signal: the test measured nothing"
    );

    let log = std::fs::read_to_string(&log_path).unwrap();
    let missing: Vec<&String> = answered
        .iter()
        .filter(|id| !log.contains(&format!("request_id=\"{id}\"")))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} answered requests have no log line, e.g. {:?}",
        missing.len(),
        answered.len(),
        missing.first()
    );
    assert!(
        log.trim_end().ends_with("stopped; store flushed"),
        "the log does not end with the final line:\n{}",
        &log[log.len().saturating_sub(2000)..]
    );
}

/// Sends SIGTERM and asserts a clean exit.
fn terminate(child: &mut ChildGuard) {
    let sent = Command::new("kill")
        .arg("-TERM")
        .arg(child.0.id().to_string())
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait(EXIT_TIMEOUT);
    assert!(status.success(), "{status:?}");
}

/// Reads `stderr` line by line up to the `listening on` line.
fn read_until_listening(stderr: &mut impl BufRead) -> SocketAddr {
    let mut line = String::new();
    loop {
        line.clear();
        let n = stderr.read_line(&mut line).unwrap();
        assert!(n > 0, "latchkey exited before listening");
        if let Some(addr) = listening_addr(&line) {
            return addr;
        }
    }
}

/// Polls the log file until the server says where it listens.
fn wait_for_address_in(path: &std::path::Path) -> SocketAddr {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let mut text = String::new();
        std::fs::File::open(path)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        if let Some(addr) = text.lines().find_map(listening_addr) {
            return addr;
        }
        assert!(
            Instant::now() < deadline,
            "no listening line within {START_TIMEOUT:?}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
