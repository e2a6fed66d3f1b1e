//! Password hashing with argon2id, always off the async runtime (each hash costs tens of ms).

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;

/// A hash of a password nobody knows, verified when the username does not exist so that the
/// response time does not reveal which usernames exist.
static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn dummy() -> String {
    DUMMY
        .get_or_init(|| {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(b"lanyard-dummy-password", &salt)
                .map(|h| h.to_string())
                .unwrap_or_default()
        })
        .clone()
}

/// Compute the dummy hash now, off the runtime, so the first unknown username does not cost an
/// extra hash (which would tell it apart from a known one by its time). Called at start-up.
pub async fn warm() {
    let _ = tokio::task::spawn_blocking(dummy).await;
}

/// At most one argon2 computation per core at a time: more only adds memory (19 MiB each) and
/// makes every login wait longer (measured: 64 concurrent logins ran slower than 16).
fn permits() -> &'static tokio::sync::Semaphore {
    static P: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        tokio::sync::Semaphore::new(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        )
    })
}

pub async fn hash(password: String) -> Result<String, String> {
    let _permit = permits().acquire().await.map_err(|e| e.to_string())?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Constant-time verification (inside argon2). `None` hash = unknown user: burn the same time.
pub async fn verify(password: String, stored: Option<String>) -> bool {
    let Ok(_permit) = permits().acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let h = stored.unwrap_or_else(dummy);
        let Ok(parsed) = PasswordHash::new(&h) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
            && known
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let h = hash("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse".into(), Some(h.clone())).await);
        assert!(!verify("wrong".into(), Some(h)).await);
        assert!(!verify("anything".into(), None).await);
    }

    #[tokio::test]
    async fn the_dummy_costs_what_a_real_hash_costs() {
        // Equal work for unknown usernames: the dummy has the very parameters (algorithm,
        // version, memory, iterations, lanes) real hashes get, so verifying it is as slow.
        warm().await;
        let real = hash("whatever".into()).await.unwrap();
        let dummy = dummy();
        let params = |h: &str| {
            let p = PasswordHash::new(h).unwrap();
            (
                p.algorithm.to_string(),
                p.version,
                p.params.to_string(),
                p.hash.map(|o| o.len()),
            )
        };
        assert_eq!(params(&real), params(&dummy));
        assert!(dummy.starts_with("$argon2id$"));
    }
}
