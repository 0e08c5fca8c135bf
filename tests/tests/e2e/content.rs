//! Document content in object storage (moto as S3 and KMS): presigned upload, completion,
//! download, the refusals, isolation, the purge, and a browser doing it from an allowed origin.

mod browser;
mod check;
mod purge;
mod refusals;
mod round_trip;
mod support;
