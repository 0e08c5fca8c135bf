//! End-to-end tests: one binary (one link of the whole stack), one module per concern.

mod config;
mod envelope;
mod health;
mod lifecycle;
mod logs;
mod migrations;
mod openapi;
mod secrets;
