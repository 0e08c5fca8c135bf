//! Document content in object storage (moto as S3 and KMS): presigned upload, completion,
//! download, the refusals, isolation, locked content fields, the purge and tenant offboarding,
//! and a browser doing it from an allowed origin.

mod browser;
mod check;
mod locked;
mod offboard;
mod purge;
mod refusals;
mod round_trip;
pub(crate) mod support;
