//! The canonical encoding of an audit event and the chain hash over it (format version 1).
//!
//! `hash = sha256("haven.audit.v1\0" || prev_hash || encoding)`, where the encoding lists these
//! fields in this order, each in a self-delimiting form so no two events encode alike:
//!
//! | field | encoding |
//! |---|---|
//! | id, tenant_id | 16 bytes |
//! | seq | i64, big endian |
//! | occurred_at | microseconds since the Unix epoch, i64, big endian |
//! | actor_user_id | optional: 0x00, or 0x01 and 16 bytes |
//! | actor_subject | optional text |
//! | action, resource_type | text |
//! | resource_id | optional text |
//! | outcome | text (as stored: success, denied, error) |
//! | request_id | optional text |
//! | client_ip | optional text, as PostgreSQL's `host(client_ip)` prints it |
//! | user_agent | optional text |
//! | changed_fields | optional: 0x00, or 0x01, u32 count, then each as text |
//! | emergency | one byte: 0x00, or 0x01 for break-glass access |
//! | client_request_id | only when present: 0x01 and the text; nothing at all when absent |
//! | returned_ids | only when present: 0x02, u32 count, then each id as 16 bytes |
//! | error_code | only when present: 0x03 and the text |
//!
//! Text is a u32 big-endian byte length and the UTF-8 bytes; an optional value is 0x00 when
//! absent, 0x01 followed by the value when present. The chain columns other than seq are not
//! part of the encoding; seq is, so moving an event within the chain breaks it.
//!
//! `client_request_id` (V14) is a trailing field that is left out entirely when absent, so an
//! event without one encodes exactly as before it existed, and every field before it is
//! self-delimiting, so the two forms cannot be confused. Events sealed in `audit_seals` (V15 on)
//! include it when present. Events sealed the old way (their own chain columns, before V15)
//! were hashed without it by the sealer of that time ([`Encoding::Legacy`]); for those events
//! only the append-only triggers guard it.
//!
//! `returned_ids` (V19) and `error_code` (V20) follow the same rule, each with its own tag
//! byte: the optional trailing fields are each a tag (0x01 `client_request_id`, 0x02
//! `returned_ids`, 0x03 `error_code`) and a self-delimiting
//! value, present only when the column is not NULL, in tag order. So an event without them
//! encodes exactly as before they existed, and the tags keep one field from passing for another
//! (a list event without a client request id cannot encode like an event with one). No event
//! sealed before V19 has `returned_ids` nor before V20 `error_code` (the columns did not
//! exist), so every seal stays valid.

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

/// `prev_hash` of each tenant's first event.
pub const GENESIS_HASH: [u8; 32] = [0; 32];
const DOMAIN: &[u8] = b"haven.audit.v1\0";
/// Tags of the optional trailing fields, written in this order when present.
const TAG_CLIENT_REQUEST_ID: u8 = 0x01;
const TAG_RETURNED_IDS: u8 = 0x02;
const TAG_ERROR_CODE: u8 = 0x03;

/// The immutable fields of an event, as the sealer and the verifier read them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct ChainEvent {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub occurred_at: OffsetDateTime,
    pub actor_user_id: Option<Uuid>,
    pub actor_subject: Option<String>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub outcome: String,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub changed_fields: Option<Vec<String>>,
    pub emergency: bool,
    pub client_request_id: Option<String>,
    pub returned_ids: Option<Vec<Uuid>>,
    pub error_code: Option<String>,
}

/// Which fields an event's hash covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// Every field in the table above: events sealed in `audit_seals`.
    Current,
    /// Without the trailing fields: events sealed before V15 with their own chain columns.
    Legacy,
}

/// The columns `ChainEvent` reads, in SQL.
macro_rules! chain_event_columns {
    () => {
        "id, tenant_id, occurred_at, actor_user_id, actor_subject, action, resource_type, \
         resource_id, outcome, request_id, host(client_ip) as client_ip, user_agent, changed_fields, \
         emergency, client_request_id, returned_ids, error_code"
    };
}
pub(crate) use chain_event_columns;

fn text(out: &mut Vec<u8>, value: &str) {
    // Column checks keep every text far below 4 GiB.
    let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value.as_bytes());
}

fn optional<T: ?Sized>(out: &mut Vec<u8>, value: Option<&T>, put: impl Fn(&mut Vec<u8>, &T)) {
    match value {
        None => out.push(0),
        Some(value) => {
            out.push(1);
            put(out, value);
        }
    }
}

/// The canonical encoding of `event` at position `seq`.
pub(crate) fn encode(seq: i64, event: &ChainEvent, encoding: Encoding) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(event.id.as_bytes());
    out.extend_from_slice(event.tenant_id.as_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    let micros = (event.occurred_at.unix_timestamp_nanos() / 1_000) as i64;
    out.extend_from_slice(&micros.to_be_bytes());
    optional(&mut out, event.actor_user_id.as_ref(), |o, id| {
        o.extend_from_slice(id.as_bytes())
    });
    optional(&mut out, event.actor_subject.as_deref(), text);
    text(&mut out, &event.action);
    text(&mut out, &event.resource_type);
    optional(&mut out, event.resource_id.as_deref(), text);
    text(&mut out, &event.outcome);
    optional(&mut out, event.request_id.as_deref(), text);
    optional(&mut out, event.client_ip.as_deref(), text);
    optional(&mut out, event.user_agent.as_deref(), text);
    optional(&mut out, event.changed_fields.as_deref(), |o, fields| {
        let count = u32::try_from(fields.len()).unwrap_or(u32::MAX);
        o.extend_from_slice(&count.to_be_bytes());
        for field in fields {
            text(o, field);
        }
    });
    out.push(u8::from(event.emergency));
    if encoding == Encoding::Legacy {
        return out;
    }
    if let Some(id) = event.client_request_id.as_deref() {
        out.push(TAG_CLIENT_REQUEST_ID);
        text(&mut out, id);
    }
    if let Some(ids) = event.returned_ids.as_deref() {
        out.push(TAG_RETURNED_IDS);
        // The column check keeps a list at 100 ids at most.
        let count = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&count.to_be_bytes());
        for id in ids {
            out.extend_from_slice(id.as_bytes());
        }
    }
    if let Some(code) = event.error_code.as_deref() {
        out.push(TAG_ERROR_CODE);
        text(&mut out, code);
    }
    out
}

/// The hash that links `event` at `seq` to the chain ending in `prev_hash`.
pub(crate) fn link_hash(
    prev_hash: &[u8],
    seq: i64,
    event: &ChainEvent,
    encoding: Encoding,
) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(DOMAIN);
    hasher.update(prev_hash);
    hasher.update(encode(seq, event, encoding));
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> ChainEvent {
        ChainEvent {
            id: Uuid::from_u128(1),
            tenant_id: Uuid::from_u128(2),
            occurred_at: OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap(),
            actor_user_id: Some(Uuid::from_u128(3)),
            actor_subject: Some("alice".into()),
            action: "document.update".into(),
            resource_type: "document".into(),
            resource_id: Some("d-1".into()),
            outcome: "success".into(),
            request_id: None,
            client_ip: Some("10.0.0.1".into()),
            user_agent: None,
            changed_fields: Some(vec!["title".into()]),
            emergency: false,
            client_request_id: None,
            returned_ids: None,
            error_code: None,
        }
    }

    fn hash(seq: i64, event: &ChainEvent) -> [u8; 32] {
        link_hash(&GENESIS_HASH, seq, event, Encoding::Current)
    }

    #[test]
    fn every_field_and_the_position_change_the_hash() {
        let base = hash(1, &event());
        assert_ne!(base, hash(2, &event()));
        assert_ne!(base, link_hash(&[1; 32], 1, &event(), Encoding::Current));
        let mut moved_text = event();
        moved_text.actor_subject = Some("alic".into());
        moved_text.action = "edocument.update".into();
        assert_ne!(base, hash(1, &moved_text));
        let mut absent = event();
        absent.changed_fields = Some(vec![]);
        assert_ne!(base, hash(1, &absent));
        absent.changed_fields = None;
        assert_ne!(base, hash(1, &absent));
        let mut client = event();
        client.client_request_id = Some(String::new());
        assert_ne!(base, hash(1, &client));
        client.client_request_id = Some("r-1".into());
        let with_id = hash(1, &client);
        assert_ne!(base, with_id);
        client.client_request_id = Some("r-2".into());
        assert_ne!(with_id, hash(1, &client));
        assert_eq!(base, hash(1, &event()));
    }

    #[test]
    fn an_event_without_a_client_request_id_encodes_as_before_the_field_existed() {
        let before = encode(1, &event(), Encoding::Current);
        // The last field of the original encoding is the emergency byte.
        assert_eq!(before.last(), Some(&0));
        let mut client = event();
        client.client_request_id = Some("r-1".into());
        let with_id = encode(1, &client, Encoding::Current);
        assert_eq!(&with_id[..before.len()], &before[..]);
        assert_eq!(&with_id[before.len()..], b"\x01\x00\x00\x00\x03r-1");
        // The old sealer's form leaves it out whatever the column holds.
        assert_eq!(encode(1, &client, Encoding::Legacy), before);
    }

    #[test]
    fn returned_ids_are_a_tagged_trailing_field_and_every_id_counts() {
        let before = encode(1, &event(), Encoding::Current);
        let mut list = event();
        list.returned_ids = Some(vec![Uuid::from_u128(7), Uuid::from_u128(8)]);
        let with_ids = encode(1, &list, Encoding::Current);
        assert_eq!(&with_ids[..before.len()], &before[..]);
        let tail = &with_ids[before.len()..];
        assert_eq!(&tail[..5], b"\x02\x00\x00\x00\x02");
        assert_eq!(&tail[5..21], Uuid::from_u128(7).as_bytes());
        assert_eq!(&tail[21..], Uuid::from_u128(8).as_bytes());
        // After a client request id, in tag order.
        list.client_request_id = Some("r-1".into());
        let both = encode(1, &list, Encoding::Current);
        assert_eq!(
            &both[before.len()..before.len() + 8],
            b"\x01\x00\x00\x00\x03r-1"
        );
        assert_eq!(&both[before.len() + 8..], tail);
        assert_eq!(encode(1, &list, Encoding::Legacy), before);

        let base = hash(1, &list);
        let mut changed = list.clone();
        changed.returned_ids = Some(vec![Uuid::from_u128(8), Uuid::from_u128(7)]);
        assert_ne!(base, hash(1, &changed), "order");
        changed.returned_ids = Some(vec![Uuid::from_u128(7)]);
        assert_ne!(base, hash(1, &changed), "a removed id");
        changed.returned_ids = Some(vec![]);
        assert_ne!(base, hash(1, &changed), "an empty page");
        let empty = hash(1, &changed);
        changed.returned_ids = None;
        assert_ne!(
            empty,
            hash(1, &changed),
            "an empty page is not a non-list event"
        );
    }

    #[test]
    fn an_error_code_is_a_tagged_trailing_field_after_the_others() {
        let mut refused = event();
        refused.outcome = "denied".into();
        let without = encode(1, &refused, Encoding::Current);
        refused.error_code = Some("RES_001".into());
        let with_code = encode(1, &refused, Encoding::Current);
        assert_eq!(&with_code[..without.len()], &without[..]);
        assert_eq!(&with_code[without.len()..], b"\x03\x00\x00\x00\x07RES_001");
        refused.returned_ids = Some(vec![]);
        let both = encode(1, &refused, Encoding::Current);
        assert_eq!(
            &both[without.len()..without.len() + 5],
            b"\x02\x00\x00\x00\x00"
        );
        assert_eq!(&both[without.len() + 5..], b"\x03\x00\x00\x00\x07RES_001");
        assert_eq!(encode(1, &refused, Encoding::Legacy), without);
        let code = |code: &str| {
            let mut e = event();
            e.error_code = Some(code.into());
            link_hash(&GENESIS_HASH, 1, &e, Encoding::Current)
        };
        assert_ne!(code("RES_001"), code("RES_002"));
    }
}
