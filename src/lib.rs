//! latchkey: a single-binary REST authentication server on an embedded store.
//!
//! Dependencies point one way:
//!
//! ```text
//! app   (composition root: config, cli,          src/app/, src/main.rs
//!        serve, operator commands)
//!   → http  (warp filters, handlers,             src/http/, src/error.rs
//!            problem+json)
//!     → auth  (use cases: register, authenticate, src/auth/
//!              issue, revoke; scrypt pool)
//!       → store (the seam: async operations,     src/store/
//!                backend-neutral errors; sled    src/store/sled/
//!                behind it)
//!         → model (Username, User, TokenRecord)  src/model.rs
//! ```
//!
//! Each layer owns its settings (`auth::settings`, `http::settings`,
//! `store::Settings`, ...); `app::config` only composes and loads them, and
//! `app::serve` hands each layer its part. `tls` loads and reloads the
//! certificate `http::server` accepts with.

mod app;
pub mod auth;
mod delivery;
pub mod error;
pub mod http;
pub mod logging;
mod metrics;
pub mod model;
mod replace_file;
pub mod store;
mod tls;

pub use app::serve::{ServeError, keep_created_files_private, open_store, serve};
pub use app::{cli, commands, config};
