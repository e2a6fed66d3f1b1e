//! Short-lived caches of tenants and clients, which every protocol request reads.
//!
//! Entries live two seconds, so a change made by another node or the CLI (a new client, a
//! rotated secret, a new redirect URI, a disabled client) is seen within two seconds; misses are
//! not cached, so a newly created tenant or client works at once. A change made through this
//! process (the admin API) drops the entry ([`Cache::forget_client`]), so it is in force here at
//! once.
//!
//! Client-authentication throttle counters ([`Cache::client_throttle`]) live one second: every
//! client-authenticated request asks whether its client_id is locked out, and the answer is
//! almost always no. A failure counted by this process drops the entry, so a lock it sets is in
//! force here at once; a lock set by another node is in force here within a second (every
//! failure is still counted in the database, whichever node sees it).

use crate::model::{Client, Tenant};
use crate::throttle::Counter;
use std::collections::HashMap;
use std::sync::RwLock;

const TTL_MS: i64 = 2_000;
const THROTTLE_TTL_MS: i64 = 1_000;

#[derive(Debug, Default)]
pub struct Cache {
    tenants: RwLock<HashMap<String, (i64, Tenant)>>,
    clients: RwLock<HashMap<(String, String), (i64, Client)>>,
    client_throttles: RwLock<HashMap<String, (i64, Counter)>>,
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

impl Cache {
    /// A client's throttle counter as read within the last second, by its throttle key.
    pub fn client_throttle(&self, key: &str, now_ms: i64) -> Option<Counter> {
        let m = self.client_throttles.read().ok()?;
        m.get(key)
            .filter(|(at, _)| now_ms >= *at && now_ms - at < THROTTLE_TTL_MS)
            .map(|(_, c)| *c)
    }

    pub fn put_client_throttle(&self, key: &str, c: Counter, now_ms: i64) {
        if let Ok(mut m) = self.client_throttles.write() {
            if m.len() > 100_000 {
                m.clear();
            }
            m.insert(key.to_string(), (now_ms, c));
        }
    }

    /// Drop a throttle counter (after this process counted a failure).
    pub fn forget_client_throttle(&self, key: &str) {
        if let Ok(mut m) = self.client_throttles.write() {
            m.remove(key);
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

    #[test]
    fn throttle_counters_live_one_second_and_a_local_failure_drops_them() {
        let c = Cache::default();
        let locked = Counter {
            failures: 10,
            window_start: 1,
            locked_until: 900,
        };
        c.put_client_throttle("client:t:a", locked, 5_000);
        assert_eq!(c.client_throttle("client:t:a", 5_999), Some(locked));
        assert_eq!(c.client_throttle("client:t:a", 6_000), None);
        assert_eq!(c.client_throttle("client:t:b", 5_000), None);
        assert_eq!(c.client_throttle("client:t:a", 4_999), None);
        c.put_client_throttle("client:t:a", Counter::default(), 5_000);
        c.forget_client_throttle("client:t:a");
        assert_eq!(c.client_throttle("client:t:a", 5_000), None);
    }
}
