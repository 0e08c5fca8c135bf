//! End-to-end tests: one binary (one link of the whole stack), one module per concern.

mod audit_api;
mod audit_db;
mod auth;
mod compliance;
mod config;
mod cors_browser;
mod cross_tenant;
mod deploy_files;
mod docs;
mod documents;
mod envelope;
mod hardening;
mod health;
mod lifecycle;
mod logs;
mod metrics;
mod migrations;
mod oidc;
mod openapi;
mod phi;
mod rls;
mod secrets;
mod secrets_client;
mod tenants_cli;
mod typescript_client;
mod users;
