//! Parsed key sets per tenant, cached briefly (parsing an RSA key costs far more than signing).
//!
//! The cache lives for a few seconds, which is safe because keys are published long before they
//! sign (see the lifecycle in `keys`), so another node's rotation is seen in time.

use super::{KeySet, LoadedKey};
use crate::store;
use sea_orm::ConnectionTrait;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

const TTL_MS: i64 = 5_000;

#[derive(Debug, Default)]
pub struct KeyCache {
    inner: RwLock<HashMap<String, (i64, Arc<KeySet>)>>,
    parsed: RwLock<HashMap<String, Arc<LoadedKey>>>,
}

impl KeyCache {
    /// The tenant's key set as of `now_ms`.
    pub async fn get<C: ConnectionTrait>(
        &self,
        db: &C,
        tenant_id: &str,
        now_ms: i64,
    ) -> Result<Arc<KeySet>, crate::error::Error> {
        if let Ok(map) = self.inner.read() {
            if let Some((at, set)) = map.get(tenant_id) {
                if now_ms - at < TTL_MS && now_ms >= *at {
                    return Ok(set.clone());
                }
            }
        }
        let rows = store::keys::list_live(db, tenant_id, now_ms / 1000).await?;
        let mut keys = Vec::with_capacity(rows.len());
        for r in rows {
            let cached = self.parsed.read().ok().and_then(|m| m.get(&r.kid).cloned());
            let k = match cached {
                Some(k) if k.retire_at == r.retire_at && k.remove_at == r.remove_at => k,
                _ => {
                    let k = Arc::new(LoadedKey::from_jwk(
                        &r.kid,
                        &r.alg,
                        &r.private_jwk,
                        &r.public_jwk,
                        r.activate_at,
                        r.retire_at,
                        r.remove_at,
                    )?);
                    if let Ok(mut m) = self.parsed.write() {
                        m.insert(r.kid.clone(), k.clone());
                    }
                    k
                }
            };
            keys.push(k);
        }
        let set = Arc::new(KeySet {
            keys: keys.iter().map(|k| clone_key(k)).collect(),
        });
        if let Ok(mut map) = self.inner.write() {
            map.insert(tenant_id.to_string(), (now_ms, set.clone()));
        }
        Ok(set)
    }

    /// Forget a tenant's cached set (after a local rotation).
    pub fn invalidate(&self, tenant_id: &str) {
        if let Ok(mut map) = self.inner.write() {
            map.remove(tenant_id);
        }
    }
}

fn clone_key(k: &LoadedKey) -> LoadedKey {
    LoadedKey {
        kid: k.kid.clone(),
        alg: k.alg.clone(),
        activate_at: k.activate_at,
        retire_at: k.retire_at,
        remove_at: k.remove_at,
        public_jwk: k.public_jwk.clone(),
        signer: k.signer.clone(),
        verifier: k.verifier.clone(),
    }
}
