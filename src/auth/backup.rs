//! Backups over the API: admins only.

use super::{Auth, AuthError, Caller};
use crate::store::Snapshot;

impl Auth {
    /// Takes a consistent backup of the whole store for an admin; anyone
    /// else gets `InsufficientScope`. The copy runs on a blocking thread;
    /// the caller reads the returned snapshot out (off the executor too).
    pub async fn backup(&self, caller: &Caller) -> Result<Snapshot, AuthError> {
        self.require_admin(caller)?;
        let store = self.store.clone();
        let snapshot = tokio::task::spawn_blocking(move || store.snapshot())
            .await
            .map_err(|e| AuthError::Internal(format!("backup task failed: {e}")))??;
        tracing::info!(
            user_id = %caller.id(),
            bytes = snapshot.len(),
            trees = snapshot.trees(),
            entries = snapshot.entries(),
            "backup taken"
        );
        Ok(snapshot)
    }
}
