//! Object keys and the SSE-KMS encryption context: built from server ids only, never from input.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use uuid::Uuid;

/// `tenants/<tenant uuid>/documents/<document uuid>`: two UUIDs the server generated, so no
/// client value (a filename, a `storage_location`) can point a URL at another object.
pub fn object_key(tenant: Uuid, document: Uuid) -> String {
    format!(
        "tenants/{}/documents/{}",
        tenant.hyphenated(),
        document.hyphenated()
    )
}

/// `tenants/<tenant uuid>/`: the prefix of every object of one tenant (offboarding sweeps it).
pub fn tenant_prefix(tenant: Uuid) -> String {
    format!("tenants/{}/", tenant.hyphenated())
}

/// The `x-amz-server-side-encryption-context` value: base64 of a JSON object naming the tenant
/// and the document. KMS binds the data key to it, and CloudTrail logs it with every use.
pub fn encryption_context(tenant: Uuid, document: Uuid) -> String {
    let json = serde_json::json!({
        "haven:tenant_id": tenant.hyphenated().to_string(),
        "haven:document_id": document.hyphenated().to_string(),
    });
    STANDARD.encode(json.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_contexts_name_the_tenant_and_the_document() {
        let (t, d) = (Uuid::from_u128(1), Uuid::from_u128(2));
        assert_eq!(
            object_key(t, d),
            "tenants/00000000-0000-0000-0000-000000000001/documents/\
             00000000-0000-0000-0000-000000000002"
        );
        assert!(object_key(t, d).starts_with(&tenant_prefix(t)));
        let json: serde_json::Value =
            serde_json::from_slice(&STANDARD.decode(encryption_context(t, d)).unwrap()).unwrap();
        assert_eq!(json["haven:tenant_id"], t.to_string());
        assert_eq!(json["haven:document_id"], d.to_string());
    }
}
