//! Lanyard identity provider core: OIDC/OAuth protocol, sessions, tokens, keys, store, delivery.

pub mod account;
pub mod app;
pub mod cache;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod error;
pub mod events;
pub mod factors;
pub mod http;
pub mod keys;
pub mod manage;
pub mod model;
pub mod passwords;
pub mod protocol;
pub mod server;
pub mod session;
pub mod store;
pub mod templates;
pub mod throttle;
pub mod tokens;
pub mod username;
