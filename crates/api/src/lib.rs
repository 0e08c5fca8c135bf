//! Haven's HTTP service: configuration, router and layers, handlers, the error envelope.
#![forbid(unsafe_code)]

pub mod auth;
pub mod cache;
pub mod cli;
pub mod compression;
pub mod config;
pub mod docs;
pub mod error;
pub mod extract;
pub mod http;
pub mod invalidation;
pub mod limits;
pub mod openapi;
pub mod principal;
pub mod readiness;
pub mod router;
pub mod routes;
pub mod scope;
pub mod secrets;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod testing;

pub use config::Config;

/// This build's crate version: `haven --version`, the health answers and the OpenAPI
/// `info.version` all report it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub use startup::Application;
