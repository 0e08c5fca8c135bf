//! Does a stored object match what its document promised? A pure comparison of HEAD's answer.

use crate::client::ObjectFacts;
use crate::settings::essence;

/// What the document row says the object must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected<'a> {
    pub size_bytes: i64,
    pub content_type: &'a str,
    /// Base64 SHA-256 the client declared (and S3 verified on PUT).
    pub sha256: &'a str,
    /// The key SSE-KMS must have used; `None` expects SSE-S3 (development).
    pub kms_key_id: Option<&'a str>,
}

/// Why an object was refused: the reason code stored on the failed document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    SizeMismatch,
    ContentTypeMismatch,
    ChecksumMismatch,
    NotEncrypted,
    WrongKmsKey,
}

impl Mismatch {
    /// The stable reason code (API responses, the `upload_failure` column, docs).
    pub fn code(self) -> &'static str {
        match self {
            Mismatch::SizeMismatch => "size_mismatch",
            Mismatch::ContentTypeMismatch => "content_type_mismatch",
            Mismatch::ChecksumMismatch => "checksum_mismatch",
            Mismatch::NotEncrypted => "not_encrypted",
            Mismatch::WrongKmsKey => "wrong_kms_key",
        }
    }

    /// Which field of the document the object disagrees with.
    pub fn field(self) -> &'static str {
        match self {
            Mismatch::SizeMismatch => "size_bytes",
            Mismatch::ContentTypeMismatch => "content_type",
            Mismatch::ChecksumMismatch => "sha256",
            Mismatch::NotEncrypted | Mismatch::WrongKmsKey => "encryption",
        }
    }
}

/// The first way `facts` differ from `expected`, or `Ok`. A checksum S3 did not report (it
/// reports one only for objects uploaded with it, and only when asked) is not a mismatch: S3
/// already refused any PUT whose body did not hash to the signed `x-amz-checksum-sha256`.
pub fn verify(expected: &Expected<'_>, facts: &ObjectFacts) -> Result<(), Mismatch> {
    if facts.size_bytes != Some(expected.size_bytes) {
        return Err(Mismatch::SizeMismatch);
    }
    let stored_type = facts.content_type.as_deref().map(essence);
    if stored_type.as_deref() != Some(essence(expected.content_type).as_str()) {
        return Err(Mismatch::ContentTypeMismatch);
    }
    if let Some(sha256) = &facts.sha256
        && sha256 != expected.sha256
    {
        return Err(Mismatch::ChecksumMismatch);
    }
    match (expected.kms_key_id, facts.encryption.as_deref()) {
        (Some(key), Some("aws:kms")) => {
            let stored = facts.kms_key_id.as_deref().unwrap_or_default();
            if !same_key(key, stored) {
                return Err(Mismatch::WrongKmsKey);
            }
        }
        (None, Some("AES256" | "aws:kms")) => {}
        _ => return Err(Mismatch::NotEncrypted),
    }
    Ok(())
}

/// S3 reports the key's ARN; the setting may be that ARN or the bare key id.
pub(crate) fn same_key(configured: &str, stored: &str) -> bool {
    !stored.is_empty()
        && (configured == stored
            || stored.ends_with(&format!(":key/{configured}"))
            || configured.ends_with(&format!(":key/{stored}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";
    const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn facts() -> ObjectFacts {
        ObjectFacts {
            size_bytes: Some(5),
            content_type: Some("application/pdf".into()),
            sha256: None,
            encryption: Some("aws:kms".into()),
            kms_key_id: Some(ARN.into()),
        }
    }

    fn expected() -> Expected<'static> {
        Expected {
            size_bytes: 5,
            content_type: "application/pdf",
            sha256: "abc=",
            kms_key_id: Some(KEY),
        }
    }

    #[test]
    fn a_matching_object_passes_with_the_key_id_or_its_arn() {
        assert_eq!(verify(&expected(), &facts()), Ok(()));
        let by_arn = Expected {
            kms_key_id: Some(ARN),
            ..expected()
        };
        assert_eq!(verify(&by_arn, &facts()), Ok(()));
    }

    #[test]
    fn each_difference_has_its_reason() {
        let size = ObjectFacts {
            size_bytes: Some(6),
            ..facts()
        };
        assert_eq!(verify(&expected(), &size), Err(Mismatch::SizeMismatch));
        let kind = ObjectFacts {
            content_type: Some("text/html".into()),
            ..facts()
        };
        assert_eq!(
            verify(&expected(), &kind),
            Err(Mismatch::ContentTypeMismatch)
        );
        let sum = ObjectFacts {
            sha256: Some("xyz=".into()),
            ..facts()
        };
        assert_eq!(verify(&expected(), &sum), Err(Mismatch::ChecksumMismatch));
        let plain = ObjectFacts {
            encryption: None,
            kms_key_id: None,
            ..facts()
        };
        assert_eq!(verify(&expected(), &plain), Err(Mismatch::NotEncrypted));
        let sse_s3 = ObjectFacts {
            encryption: Some("AES256".into()),
            kms_key_id: None,
            ..facts()
        };
        assert_eq!(verify(&expected(), &sse_s3), Err(Mismatch::NotEncrypted));
        let other = ObjectFacts {
            kms_key_id: Some("arn:aws:kms:us-east-1:111122223333:key/other".into()),
            ..facts()
        };
        assert_eq!(verify(&expected(), &other), Err(Mismatch::WrongKmsKey));
    }
}
