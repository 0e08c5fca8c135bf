//! End-to-end tests: one binary (one link of the whole stack), one module per concern.

mod audit_db;
mod auth;
mod config;
mod docs;
mod envelope;
mod health;
mod lifecycle;
mod logs;
mod migrations;
mod oidc;
mod openapi;
mod rls;
mod secrets;
