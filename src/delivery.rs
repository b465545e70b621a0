//! Code delivery: how confirmation and password-reset codes reach users.
//!
//! `log` mode writes the code to the server log, for local development; it
//! is the one place a secret is logged on purpose. `webhook` mode POSTs the
//! message as JSON to a configured URL, so any mailer or chat bot can deliver
//! it, retrying with exponential backoff. Delivery runs in its own task: a
//! request never waits for it, so response time does not reveal whether a
//! message was sent.

use crate::model::{CodeKind, UserId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// How codes are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Write the code to the server log (local development).
    Log,
    /// POST it as JSON to `url`.
    Webhook,
}

/// `[delivery]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// `log` or `webhook`.
    pub mode: Mode,
    /// Where webhook mode POSTs; required in that mode.
    pub url: String,
    /// Attempts before a webhook delivery is given up (with backoff between).
    pub max_attempts: u32,
    /// Timeout of one webhook attempt.
    pub timeout_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            mode: Mode::Log,
            url: String::new(),
            max_attempts: 5,
            timeout_ms: 5000,
        }
    }
}

impl Settings {
    /// Checks what serde cannot express.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.mode == Mode::Webhook
            && !(self.url.starts_with("http://") || self.url.starts_with("https://"))
        {
            return Err("delivery.url must be an http:// or https:// URL in webhook mode");
        }
        if self.max_attempts == 0 {
            return Err("delivery.max_attempts must be at least 1");
        }
        Ok(())
    }
}

/// One code on its way to a user; the JSON body of a webhook delivery.
#[derive(Clone, Serialize)]
pub struct Message {
    /// `confirmation` or `password_reset`.
    pub kind: CodeKind,
    /// The account's id.
    pub user_id: UserId,
    /// The account's name.
    pub username: String,
    /// The account's email, if it has one.
    pub email: Option<String>,
    /// The single-use code.
    pub code: String,
    /// When the code stops working, RFC 3339.
    pub expires_at: String,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("kind", &self.kind)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// Sends messages the configured way. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Delivery {
    inner: Arc<Inner>,
}

#[derive(Debug)]
enum Inner {
    Log,
    Webhook {
        client: reqwest::Client,
        url: String,
        max_attempts: u32,
    },
}

/// The webhook client could not be built (the TLS backend failed to load).
#[derive(Debug, thiserror::Error)]
#[error("delivery: {0}")]
pub struct DeliveryError(String);

impl Delivery {
    /// Builds the sender for `config`.
    pub fn new(config: &Settings) -> Result<Self, DeliveryError> {
        let inner = match config.mode {
            Mode::Log => Inner::Log,
            Mode::Webhook => Inner::Webhook {
                client: reqwest::Client::builder()
                    .timeout(Duration::from_millis(config.timeout_ms))
                    .build()
                    .map_err(|e| DeliveryError(e.to_string()))?,
                url: config.url.clone(),
                max_attempts: config.max_attempts,
            },
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Sends `message` in the background. Needs a tokio runtime.
    pub fn send(&self, message: Message) {
        match &*self.inner {
            Inner::Log => {
                tracing::info!(
                    kind = message.kind.as_str(),
                    user_id = %message.user_id,
                    username = message.username,
                    code = message.code,
                    expires_at = message.expires_at,
                    "code for delivery (delivery.mode = \"log\"; use \"webhook\" in production)"
                );
            }
            Inner::Webhook { .. } => {
                let this = self.clone();
                tokio::spawn(async move { this.post_with_retries(message).await });
            }
        }
    }

    async fn post_with_retries(&self, message: Message) {
        let Inner::Webhook {
            client,
            url,
            max_attempts,
        } = &*self.inner
        else {
            return;
        };
        let mut backoff = Duration::from_millis(500);
        for attempt in 1..=*max_attempts {
            let outcome = client.post(url).json(&message).send().await;
            match outcome {
                Ok(response) if response.status().is_success() => {
                    tracing::info!(kind = message.kind.as_str(), user_id = %message.user_id, attempt, "code delivered");
                    return;
                }
                Ok(response) => {
                    tracing::warn!(
                        status = response.status().as_u16(),
                        attempt,
                        "webhook refused a delivery"
                    );
                }
                Err(e) => {
                    // reqwest's error text can include the URL, which is
                    // configuration, not a secret; the body is never shown.
                    tracing::warn!(error = %e.without_url(), attempt, "webhook delivery failed");
                }
            }
            if attempt < *max_attempts {
                tokio::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(2);
            }
        }
        tracing::error!(kind = message.kind.as_str(), user_id = %message.user_id, "code not delivered: webhook attempts exhausted");
    }
}
