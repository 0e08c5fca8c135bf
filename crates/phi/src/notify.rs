//! The cluster-wide invalidation contract on PostgreSQL channel `haven_invalidate`.
//!
//! `haven tenants shred` and `haven tenants rotate-key` run `pg_notify('haven_invalidate',
//! payload)` in the transaction that changes the keys, so every listening replica hears it
//! exactly when the change commits. The payload is a JSON object:
//!
//! ```json
//! {"kind": "tenant_keys_shredded", "tenant_id": "<uuid>"}
//! {"kind": "tenant_keys_rotated",  "tenant_id": "<uuid>"}
//! ```
//!
//! A listener parses it with [`Invalidation::parse`] and calls [`crate::Phi::invalidate`]
//! (which evicts the tenant's cached keys). Unknown kinds are ignored, so other caches may share
//! the channel. A replica that misses a notification (its listener reconnecting) drops the
//! keys within PHI_KEY_CACHE_TTL_SECONDS anyway.

use haven_db::ids::TenantId;

pub use haven_db::tenant_keys::INVALIDATE_CHANNEL;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalidation {
    TenantKeysShredded(TenantId),
    TenantKeysRotated(TenantId),
}

impl Invalidation {
    /// `None` for a payload of another kind or shape.
    pub fn parse(payload: &str) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_str(payload).ok()?;
        let tenant = value.get("tenant_id")?.as_str()?.parse::<TenantId>().ok()?;
        match value.get("kind")?.as_str()? {
            "tenant_keys_shredded" => Some(Self::TenantKeysShredded(tenant)),
            "tenant_keys_rotated" => Some(Self::TenantKeysRotated(tenant)),
            _ => None,
        }
    }

    pub fn tenant(self) -> TenantId {
        match self {
            Self::TenantKeysShredded(tenant) | Self::TenantKeysRotated(tenant) => tenant,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_parse_by_kind_and_others_are_ignored() {
        let id = "0192f5d4-6c1e-7c4a-9a51-3f1c9a1e2b3c";
        let tenant: TenantId = id.parse().unwrap();
        let shredded = format!(r#"{{"kind":"tenant_keys_shredded","tenant_id":"{id}"}}"#);
        assert_eq!(
            Invalidation::parse(&shredded),
            Some(Invalidation::TenantKeysShredded(tenant))
        );
        let rotated = format!(r#"{{"kind":"tenant_keys_rotated","tenant_id":"{id}"}}"#);
        assert_eq!(
            Invalidation::parse(&rotated).map(Invalidation::tenant),
            Some(tenant)
        );
        for other in [
            format!(r#"{{"kind":"tenant_suspended","tenant_id":"{id}"}}"#),
            r#"{"kind":"tenant_keys_shredded","tenant_id":"nope"}"#.to_owned(),
            "not json".to_owned(),
        ] {
            assert_eq!(Invalidation::parse(&other), None, "{other}");
        }
    }
}
