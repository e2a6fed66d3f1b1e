//! Sessions: the model, the pure rules that govern them, and their one owner, the service.
//!
//! PURE modules (no I/O; `now` is always a parameter): `model` (the `Session` type and its
//! lifecycle), `clocks` (idle / absolute / scheduled deadlines), `policy` (layers and the fold),
//! `admission` (concurrent-session limits), `schedule` (shift ends across DST), `cohort`
//! (selectors), `device` (device labels), `fanout` (who hears of a logout), `travel` (impossible travel), `trust` (device trust score), `chain` (response chains), `lock` (account locks). `service` applies them in transactions and is
//! the only caller of `store::sessions`.

pub mod admission;
pub mod binding;
pub mod chain;
pub mod clocks;
pub mod cohort;
pub mod device;
pub mod duplicate;
pub mod fanout;
pub mod lock;
pub mod model;
pub mod policy;
pub mod schedule;
pub mod service;
pub mod stepup;
pub mod travel;
pub mod trust;

pub use clocks::{evaluate_liveness, Liveness};
pub use model::{EndReason, Mode, Session, SessionState};
pub use policy::{resolve_policy, EffectivePolicy, LayerRef, PolicyLayer};
