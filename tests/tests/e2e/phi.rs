//! Field-level PHI encryption against real PostgreSQL and moto's KMS: keys, integrity,
//! KMS outages, rotation with re-encryption, and crypto-shredding.

mod api_outage;
mod at_rest;
mod keys;
mod outage;
mod reencrypt;
mod shred;
mod support;
