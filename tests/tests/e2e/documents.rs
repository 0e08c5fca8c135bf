//! The documents API over HTTP with real tokens: CRUD, strict input, idempotency, pagination,
//! and atomicity of a change with its audit event.

mod break_glass;
mod client_ip;
mod crud;
mod cursors;
mod idempotency;
mod pagination;
mod rollback;
mod strict;
pub(crate) mod support;
