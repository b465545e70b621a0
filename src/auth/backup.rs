//! Backups over the API: admins only.

use super::{Auth, AuthError, Caller};
use crate::store::Snapshot;

impl Auth {
    /// Takes a consistent backup of the whole store for an admin; anyone
    /// else gets `InsufficientScope`. The caller reads the returned snapshot
    /// out, off the executor.
    pub async fn backup(&self, caller: &Caller) -> Result<Snapshot, AuthError> {
        self.require_admin(caller)?;
        let snapshot = self.store.snapshot().await?;
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
