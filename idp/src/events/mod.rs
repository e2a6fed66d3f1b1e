//! Audit events, the one path every session end takes, the outbox dispatcher that delivers
//! back-channel logout tokens and e-mails, e-mail itself, and the sweeper that ends expired sessions.

pub mod audit;
pub mod dispatcher;
pub mod fairness;
pub mod mail;
pub mod sweeper;
pub mod termination;
pub mod wakeup;
