//! Password hashing with argon2id, always off the async runtime (each hash costs tens of ms).

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, SaltString};
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
        verify_blocking(password.as_bytes(), &h) && known
    })
    .await
    .unwrap_or(false)
}

/// The verification itself, on the calling thread: what every login and `verify_rate` run.
///
/// The same computation as `PasswordVerifier::verify_password` (algorithm, version and
/// parameters from the stored hash; RFC 9106 §3), but into block memory kept between calls:
/// the crate allocates and zeroes 19 MiB per call, and the fresh pages fault in on every login
/// (measured: 77 → 121 verifications/s on 2 cores). The result is compared in constant time
/// (`Output`'s `PartialEq`).
fn verify_blocking(password: &[u8], stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = argon2::Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(argon2::Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = argon2::Params::try_from(&parsed) else {
        return false;
    };
    let mut salt_buf = [0u8; argon2::password_hash::Salt::MAX_LENGTH];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let needed = params.block_count();
    let hasher = Argon2::new(algorithm, version, params);
    let mut memory = MEMORY.take(needed);
    let computed =
        hasher.hash_password_into_with_memory(password, salt, &mut out, &mut memory[..needed]);
    MEMORY.give_back(memory, std::time::Instant::now());
    let matches =
        computed.is_ok() && argon2::password_hash::Output::new(&out).is_ok_and(|o| o == expected);
    out.fill(0);
    matches
}

/// Block memory kept between verifications. It holds at most one buffer per verification that
/// ran at once (`permits`: one per core), and `release_idle` drops buffers unused for a while,
/// so an idle server does not keep 19 MiB per core.
struct MemoryPool(std::sync::Mutex<Vec<(Vec<argon2::Block>, std::time::Instant)>>);

static MEMORY: MemoryPool = MemoryPool(std::sync::Mutex::new(Vec::new()));

/// How long unused block memory is kept.
pub const IDLE_MEMORY: std::time::Duration = std::time::Duration::from_secs(10);

impl MemoryPool {
    /// A buffer of at least `blocks` blocks: the most recently returned one, or a new one.
    fn take(&self, blocks: usize) -> Vec<argon2::Block> {
        let reused = self.0.lock().ok().and_then(|mut pool| pool.pop());
        let mut memory = reused.map(|(m, _)| m).unwrap_or_default();
        if memory.len() < blocks {
            memory.resize(blocks, argon2::Block::default());
        }
        memory
    }

    fn give_back(&self, memory: Vec<argon2::Block>, now: std::time::Instant) {
        if let Ok(mut pool) = self.0.lock() {
            pool.push((memory, now));
        }
    }

    /// Drop the buffers returned `idle` or longer before `now`; how many were dropped.
    fn release_idle(&self, now: std::time::Instant, idle: std::time::Duration) -> usize {
        let Ok(mut pool) = self.0.lock() else {
            return 0;
        };
        let before = pool.len();
        pool.retain(|(_, returned)| now.saturating_duration_since(*returned) < idle);
        before - pool.len()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().map_or(0, |p| p.len())
    }
}

/// Every `IDLE_MEMORY`, drop the block memory no login used since (runs for the process's life).
pub async fn run_release_idle() {
    let mut tick = tokio::time::interval(IDLE_MEMORY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        MEMORY.release_idle(std::time::Instant::now(), IDLE_MEMORY);
    }
}

/// How many verifications this machine completes per second at the parameters new hashes get,
/// with one thread per core (as many as `verify` lets run at once): the ceiling for logins.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct VerifyRate {
    pub threads: usize,
    pub verifications: u64,
    pub seconds: f64,
    pub per_second: f64,
}

/// Verify one stored hash on every core for `window` and count (`lanyard bench-hash`).
pub fn verify_rate(window: std::time::Duration) -> Result<VerifyRate, String> {
    let salt = SaltString::generate(&mut OsRng);
    let stored = Argon2::default()
        .hash_password(b"bench-hash-password", &salt)
        .map_err(|e| e.to_string())?
        .to_string();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let start = std::time::Instant::now();
    let counts: Vec<u64> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let stored = stored.as_str();
                scope.spawn(move || {
                    // At least one each, however short the window.
                    let mut n = 0u64;
                    loop {
                        if !verify_blocking(b"bench-hash-password", stored) {
                            return Err("a fresh hash did not verify".to_string());
                        }
                        n += 1;
                        if start.elapsed() >= window {
                            return Ok(n);
                        }
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().map_err(|_| "a worker panicked".to_string())?)
            .collect::<Result<Vec<u64>, String>>()
    })?;
    let seconds = start.elapsed().as_secs_f64();
    let verifications = counts.iter().sum();
    Ok(VerifyRate {
        threads,
        verifications,
        seconds,
        per_second: verifications as f64 / seconds,
    })
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

    #[test]
    fn verification_agrees_with_the_crate_verifier() {
        use argon2::password_hash::PasswordVerifier;
        let salt = SaltString::generate(&mut OsRng);
        // Small parameters keep the test quick; the stored hash carries them.
        let params = argon2::Params::new(64, 1, 1, None).unwrap();
        for (alg, ver) in [
            (argon2::Algorithm::Argon2id, argon2::Version::V0x13),
            (argon2::Algorithm::Argon2i, argon2::Version::V0x10),
            (argon2::Algorithm::Argon2d, argon2::Version::V0x13),
        ] {
            let h = Argon2::new(alg, ver, params.clone())
                .hash_password(b"pw", &salt)
                .unwrap()
                .to_string();
            let parsed = PasswordHash::new(&h).unwrap();
            for pw in [&b"pw"[..], b"pW", b"", b"pw "] {
                assert_eq!(
                    verify_blocking(pw, &h),
                    Argon2::default().verify_password(pw, &parsed).is_ok(),
                    "{h} {pw:?}"
                );
            }
            assert!(verify_blocking(b"pw", &h));
        }
        // Then a full-size one after a small one: the thread's memory grows to fit.
        let h = Argon2::default()
            .hash_password(b"big", &salt)
            .unwrap()
            .to_string();
        assert!(verify_blocking(b"big", &h));
        assert!(!verify_blocking(b"bIg", &h));
        // Malformed stored values never verify.
        for bad in ["", "$argon2id$", "plain", &h[..h.len() - 4]] {
            assert!(!verify_blocking(b"big", bad), "{bad}");
        }
    }

    #[test]
    fn the_pool_reuses_buffers_and_drops_only_idle_ones() {
        use std::time::{Duration, Instant};
        let pool = MemoryPool(std::sync::Mutex::new(Vec::new()));
        let t0 = Instant::now();
        let a = pool.take(8);
        let b = pool.take(16);
        assert_eq!((a.len(), b.len(), pool.len()), (8, 16, 0));
        pool.give_back(a, t0);
        pool.give_back(b, t0 + Duration::from_secs(5));
        // The most recent one is reused, grown when too small.
        let c = pool.take(32);
        assert_eq!((c.len(), pool.len()), (32, 1));
        pool.give_back(c, t0 + Duration::from_secs(6));
        // At t0+10 s the first buffer has been idle 10 s (dropped), the other 4 s (kept).
        assert_eq!(pool.release_idle(t0 + IDLE_MEMORY, IDLE_MEMORY), 1);
        assert_eq!(pool.len(), 1);
        assert_eq!(
            pool.release_idle(t0 + Duration::from_secs(15), IDLE_MEMORY),
            0
        );
        assert_eq!(
            pool.release_idle(t0 + Duration::from_secs(16), IDLE_MEMORY),
            1
        );
        assert_eq!(pool.len(), 0);
    }

    #[test]
    fn the_rate_counts_verifications_that_succeeded() {
        let r = verify_rate(std::time::Duration::from_millis(1)).unwrap();
        assert!(r.threads >= 1);
        // Every thread verifies at least once, however short the window.
        assert!(r.verifications >= r.threads as u64, "{r:?}");
        assert!(r.per_second > 0.0);
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
