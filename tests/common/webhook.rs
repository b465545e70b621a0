//! A webhook receiver on a free port of 127.0.0.1, standing in for the
//! mailer that `delivery.mode = "webhook"` posts codes to.

use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long a delivery may take to arrive: it runs in the background after
/// the answer, and a debug binary on a loaded machine is slow.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(20);

/// A receiver that records every POSTed JSON body, failed attempts included.
pub struct Webhook {
    /// The URL to put in `delivery.url`.
    pub url: String,
    /// Each body with the moment the receiver got it.
    received: tokio::sync::mpsc::UnboundedReceiver<(Value, Instant)>,
    _stop: oneshot::Sender<()>,
}

impl Webhook {
    /// A receiver that answers every delivery 200.
    pub async fn start() -> Self {
        Self::failing_first(0).await
    }

    /// A receiver that answers the first `failures` deliveries 500, then 200.
    pub async fn failing_first(failures: usize) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use warp::Filter;
        let (sent, received) = tokio::sync::mpsc::unbounded_channel();
        let seen = std::sync::Arc::new(AtomicUsize::new(0));
        let route = warp::post()
            .and(warp::body::json())
            .map(move |body: Value| {
                let _ = sent.send((body, Instant::now()));
                if seen.fetch_add(1, Ordering::SeqCst) < failures {
                    warp::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    warp::http::StatusCode::OK
                }
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = warp::serve(route).incoming(listener).graceful(async move {
            let _ = stopped.await;
        });
        tokio::spawn(server.run());
        Self {
            url: format!("http://{addr}/deliver"),
            received,
            _stop: stop,
        }
    }

    /// The configuration that delivers to this receiver.
    pub fn configure(&self, cfg: &mut latchkey::config::Config) {
        cfg.delivery.mode = latchkey::config::DeliveryMode::Webhook;
        cfg.delivery.url = self.url.clone();
    }

    /// The next delivery; panics if none arrives within [`DELIVERY_TIMEOUT`].
    pub async fn next(&mut self) -> Value {
        self.next_received().await.0
    }

    /// The next delivery and when it reached the receiver: a test that
    /// times deliveries must not count how late it got to read them.
    pub async fn next_received(&mut self) -> (Value, Instant) {
        tokio::time::timeout(DELIVERY_TIMEOUT, self.received.recv())
            .await
            .unwrap_or_else(|_| panic!("no webhook delivery within {DELIVERY_TIMEOUT:?}"))
            .unwrap()
    }

    /// Asserts `message` is a delivery of `kind` to the user `user_id`,
    /// `username`, at `email`, carrying a code and its expiry.
    #[track_caller]
    pub fn assert_delivery(message: &Value, kind: &str, user_id: u64, username: &str, email: &str) {
        crate::common::assert_has_keys(
            message,
            &["kind", "user_id", "username", "email", "code", "expires_at"],
        );
        assert_eq!(message["kind"], kind, "{message}");
        assert_eq!(message["user_id"].as_u64(), Some(user_id), "{message}");
        assert_eq!(message["username"], username, "{message}");
        assert_eq!(message["email"], email, "{message}");
    }

    /// The code in `message`, which must be of `kind`.
    #[track_caller]
    pub fn code_of(message: &Value, kind: &str) -> String {
        assert_eq!(message["kind"], kind, "{message}");
        message["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no code in {message}"))
            .to_owned()
    }

    /// The code of the next delivery, which must be of `kind`.
    pub async fn next_code(&mut self, kind: &str) -> String {
        let message = self.next().await;
        Self::code_of(&message, kind)
    }

    /// Asserts nothing is delivered within `quiet`.
    pub async fn assert_nothing_within(&mut self, quiet: Duration) {
        if let Ok(Some((message, _))) = tokio::time::timeout(quiet, self.received.recv()).await {
            panic!("unexpected webhook delivery: {message}");
        }
    }
}
