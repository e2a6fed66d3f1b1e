//! How long one JWS signature and one verification take with each of our algorithms, by the
//! signer Lanyard uses (aws-lc-rs, `keys::KeyPairJws`) and by josekit's own (OpenSSL), on one
//! thread (ADR 0023). A benchmark, not a test:
//!
//! ```text
//! cargo run --release -p lanyard-idp --example bench_sign [SECONDS_PER_MEASUREMENT]
//! ```

use josekit::jwk::Jwk;
use josekit::jws::{EdDSA, JwsSigner, JwsVerifier, ES256, RS256};
use lanyard_idp::keys::{generate, KeyPairJws};
use std::time::{Duration, Instant};

/// Run `op` for `window` and return microseconds per call.
fn per_call(window: Duration, mut op: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < window {
        for _ in 0..16 {
            op()?;
        }
        n += 16;
    }
    Ok(start.elapsed().as_secs_f64() * 1e6 / n as f64)
}

fn main() -> anyhow::Result<()> {
    let secs: f64 = std::env::args().nth(1).map_or(Ok(2.0), |s| s.parse())?;
    let window = Duration::from_secs_f64(secs);
    // A message the size of an access token's signing input.
    let message = vec![b'e'; 600];
    println!("alg    signer            sign µs  verify µs");
    for alg in ["ES256", "RS256", "EdDSA"] {
        let g = generate(alg)?;
        let private = Jwk::from_bytes(g.private_jwk.as_bytes())?;
        let public = Jwk::from_bytes(g.public_jwk.as_bytes())?;
        let ours = KeyPairJws::from_jwk(&g.kid, alg, &private, &public)?;
        let (signer, verifier): (Box<dyn JwsSigner>, Box<dyn JwsVerifier>) = match alg {
            "ES256" => (
                Box::new(ES256.signer_from_jwk(&private)?),
                Box::new(ES256.verifier_from_jwk(&public)?),
            ),
            "RS256" => (
                Box::new(RS256.signer_from_jwk(&private)?),
                Box::new(RS256.verifier_from_jwk(&public)?),
            ),
            _ => (
                Box::new(EdDSA.signer_from_jwk(&private)?),
                Box::new(EdDSA.verifier_from_jwk(&public)?),
            ),
        };
        let candidates: [(&str, &dyn JwsSigner, &dyn JwsVerifier); 2] = [
            ("aws-lc-rs (ours)", &ours, &ours),
            ("josekit/OpenSSL", signer.as_ref(), verifier.as_ref()),
        ];
        for (name, s, v) in candidates {
            let sig = s.sign(&message)?;
            let sign = per_call(window, || {
                s.sign(&message)?;
                Ok(())
            })?;
            let verify = per_call(window, || Ok(v.verify(&message, &sig)?))?;
            println!("{alg:<6} {name:<17} {sign:>8.1} {verify:>10.1}");
        }
    }
    Ok(())
}
