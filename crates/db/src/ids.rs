//! Typed ids: a `UserId` cannot go where a `TenantId` goes, though both are UUIDs underneath.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            Hash,
            PartialOrd,
            Ord,
            serde::Serialize,
            serde::Deserialize,
            sqlx::Type,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        /// Parses the usual UUID text forms; anything else (for a path id: a 404) is an error.
        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// A tenant (`tenants.id`), never the token's external tenant claim.
    TenantId
);
uuid_id!(
    /// A user of one tenant (`users.id`).
    UserId
);
uuid_id!(
    /// A document (`documents.id`).
    DocumentId
);
uuid_id!(
    /// A patient (`patients.id`).
    PatientId
);
uuid_id!(
    /// An audit event (`audit_events.id`). Random, so ids reveal nothing about other tenants'
    /// activity.
    AuditEventId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_displays_and_serializes_as_its_bare_uuid() {
        let uuid = Uuid::parse_str("0a1b2c3d-0000-4000-8000-000000000001").unwrap();
        let id = TenantId::from_uuid(uuid);
        assert_eq!(id.to_string(), uuid.to_string());
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{uuid}\""));
        assert_eq!(
            "0a1b2c3d-0000-4000-8000-000000000001"
                .parse::<TenantId>()
                .unwrap(),
            id
        );
    }

    #[test]
    fn text_that_is_not_a_uuid_does_not_parse() {
        assert!("42".parse::<DocumentId>().is_err());
        assert!("../etc".parse::<UserId>().is_err());
    }
}
