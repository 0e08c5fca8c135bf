//! Benchmark baseline: GET /api/v1/health/live → {"status":"ok","timestamp":<unix s>,"version":"0.1.0"}
//! (the same shape and length as Haven's at its version 0.1.0), and GET /api/v1/documents/{id},
//! the authenticated, audited read (`read.rs`) when JWKS_URL is set.
//! Listens on 127.0.0.1:$PORT (default 8001) until SIGTERM or Ctrl-C.
#![forbid(unsafe_code)]

mod read;

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::{Json, Router, routing::get};
use serde_json::{Value, json};

async fn live() -> Json<Value> {
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Json(json!({"status": "ok", "timestamp": timestamp, "version": "0.1.0"}))
}

async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[tokio::main]
async fn main() {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8001);
    let mut app = Router::new().route("/api/v1/health/live", get(live));
    if std::env::var_os("JWKS_URL").is_some() {
        app = app.merge(read::router(read::Reader::from_env().await));
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind 127.0.0.1:PORT");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown())
    .await
    .expect("serve");
}
