//! HTTP handlers, one module per resource.

pub mod audit;
pub mod auth;
pub mod documents;
pub mod health;
pub mod input;
pub mod me;
pub mod params;
pub mod patients;
pub mod user_status;
pub mod users;
