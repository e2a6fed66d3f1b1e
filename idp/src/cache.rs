//! Short-lived caches of tenants and clients, which every protocol request reads.
//!
//! Entries live two seconds, so a change made by another node or the CLI (a new client, a
//! rotated secret, a new redirect URI, a disabled client) is seen within two seconds; misses are
//! not cached, so a newly created tenant or client works at once. A change made through this
//! process (the admin API) drops the entry ([`Cache::forget_client`]), so it is in force here at
//! once.

use crate::model::{Client, Tenant};
use std::collections::HashMap;
use std::sync::RwLock;

const TTL_MS: i64 = 2_000;

#[derive(Debug, Default)]
pub struct Cache {
    tenants: RwLock<HashMap<String, (i64, Tenant)>>,
    clients: RwLock<HashMap<(String, String), (i64, Client)>>,
}

impl Cache {
    pub fn tenant(&self, slug: &str, now_ms: i64) -> Option<Tenant> {
        let m = self.tenants.read().ok()?;
        m.get(slug)
            .filter(|(at, _)| fresh(*at, now_ms))
            .map(|(_, t)| t.clone())
    }

    pub fn put_tenant(&self, t: &Tenant, now_ms: i64) {
        if let Ok(mut m) = self.tenants.write() {
            if m.len() > 10_000 {
                m.clear();
            }
            m.insert(t.slug.clone(), (now_ms, t.clone()));
        }
    }

    /// Drop a tenant's entry (after a change or deletion), so the next read sees the database.
    pub fn forget_tenant(&self, slug: &str) {
        if let Ok(mut m) = self.tenants.write() {
            m.remove(slug);
        }
    }

    pub fn client(&self, tenant_id: &str, client_id: &str, now_ms: i64) -> Option<Client> {
        let m = self.clients.read().ok()?;
        m.get(&(tenant_id.to_string(), client_id.to_string()))
            .filter(|(at, _)| fresh(*at, now_ms))
            .map(|(_, c)| c.clone())
    }

    pub fn put_client(&self, tenant_id: &str, c: &Client, now_ms: i64) {
        if let Ok(mut m) = self.clients.write() {
            if m.len() > 100_000 {
                m.clear();
            }
            m.insert(
                (tenant_id.to_string(), c.client_id.clone()),
                (now_ms, c.clone()),
            );
        }
    }
}

impl Cache {
    /// Drop a client's entry (after a change), so the next read sees the database.
    pub fn forget_client(&self, tenant_id: &str, client_id: &str) {
        if let Ok(mut m) = self.clients.write() {
            m.remove(&(tenant_id.to_string(), client_id.to_string()));
        }
    }
}

fn fresh(at: i64, now_ms: i64) -> bool {
    now_ms >= at && now_ms - at < TTL_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_two_seconds() {
        let c = Cache::default();
        let t = Tenant {
            id: "1".into(),
            slug: "a".into(),
            name: "A".into(),
            issuer: "i".into(),
        };
        c.put_tenant(&t, 1000);
        assert!(c.tenant("a", 2999).is_some());
        assert!(c.tenant("a", 3000).is_none());
        assert!(c.tenant("b", 1000).is_none());
        // A clock that went backwards does not serve stale entries forever.
        assert!(c.tenant("a", 999).is_none());
        c.put_tenant(&t, 1000);
        c.forget_tenant("a");
        assert!(c.tenant("a", 1000).is_none());
    }
}
