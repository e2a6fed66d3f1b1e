//! HTTP plumbing shared by every endpoint: request context, strict parameter parsing, cookies,
//! CSRF, security headers, request ids and telemetry, and the error responses.

pub mod client_ip;
pub mod context;
pub mod cookies;
pub mod csrf;
pub mod destination;
pub mod geo;
pub mod header_limits;
pub mod headers;
pub mod params;
pub mod request_id;
pub mod respond;

pub use context::RequestContext;
pub use params::Params;
