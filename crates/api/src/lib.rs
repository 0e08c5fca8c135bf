//! Haven's HTTP service: configuration, router and layers, handlers, the error envelope.
#![forbid(unsafe_code)]

pub mod audit_log;
pub mod auth;
pub mod cli;
pub mod client_ip;
pub mod config;
pub mod docs;
pub mod error;
pub mod extract;
pub mod front;
pub mod health;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod principal;
pub mod request_id;
pub mod router;
pub mod routes;
pub mod secrets;
pub mod security;
pub mod server;
pub mod startup;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod testing;

pub use config::Config;
pub use startup::Application;
