//! Audit events, the one path every session end takes, the outbox dispatcher that delivers
//! back-channel logout tokens, and the sweeper that ends expired sessions.

pub mod audit;
pub mod dispatcher;
pub mod sweeper;
pub mod termination;
