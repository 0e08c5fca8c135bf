//! The per-request HTTP edge: request ids, the client's address, security headers, metrics, the
//! one front middleware that runs them in order, and the accept loop.

pub mod client_ip;
pub mod cors;
pub mod front;
pub mod metrics;
pub mod request_id;
pub mod security;
pub mod server;
