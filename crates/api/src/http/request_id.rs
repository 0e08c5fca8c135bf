//! Request ids: the server makes one for every request (logs, the envelope, `X-Request-ID` on
//! the response, audit events); a caller's own `X-Request-ID`, when short and safe, is kept
//! beside it as the client's id, never in its place.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const MAX_LEN: usize = 64;

/// The id of the request being served; in request and response extensions.
#[derive(Debug, Clone)]
pub struct RequestId {
    /// The server's id: always generated, so unique per request.
    text: Arc<str>,
    /// The same id as a header value, made once for the request's and the response's headers.
    header: HeaderValue,
    /// The caller's own `X-Request-ID`, when short and safe.
    client: Option<Arc<str>>,
}

impl RequestId {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The id the client sent, if it was usable.
    pub fn client(&self) -> Option<&str> {
        self.client.as_deref()
    }

    /// An inbound id is kept only if it cannot smuggle anything into logs or audit events.
    fn client_from(value: &HeaderValue) -> Option<Arc<str>> {
        let text = value.to_str().ok()?;
        let safe = !text.is_empty()
            && text.len() <= MAX_LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        safe.then(|| Arc::from(text))
    }

    fn generate(client: Option<Arc<str>>) -> Self {
        let mut buffer = uuid::Uuid::encode_buffer();
        let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buffer);
        let header = HeaderValue::from_str(text).expect("a UUID is a valid header value");
        Self {
            text: Arc::from(&*text),
            header,
            client,
        }
    }
}

/// The request's id (a new one; the caller's own kept beside it), put in the request's
/// extensions, where handlers, the envelope and audit events take it from (the request's own
/// `X-Request-ID` header is left as the caller sent it and read by nothing else). Called first
/// of all by `http::front::Front`.
pub fn assign(request: &mut Request) -> RequestId {
    let client = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(RequestId::client_from);
    let id = RequestId::generate(client);
    request.extensions_mut().insert(id.clone());
    id
}

/// Sets `X-Request-ID` on the response; last of all, so every response carries it.
pub fn stamp(response: &mut Response, id: &RequestId) {
    response
        .headers_mut()
        .insert(X_REQUEST_ID.clone(), id.header.clone());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_id_is_always_new_and_a_safe_client_id_is_kept_beside_it() {
        let keep = HeaderValue::from_static("abc-123_x.y");
        let client = RequestId::client_from(&keep);
        assert_eq!(client.as_deref(), Some("abc-123_x.y"));
        let (a, b) = (
            RequestId::generate(client.clone()),
            RequestId::generate(client),
        );
        assert_ne!(
            a.as_str(),
            b.as_str(),
            "two requests never share a server id"
        );
        assert_eq!(a.client(), Some("abc-123_x.y"));
        for bad in [
            "",
            "has space",
            "semi;colon",
            "{\"json\":1}",
            &"a".repeat(65),
        ] {
            let value = HeaderValue::from_str(bad).unwrap();
            assert!(
                RequestId::client_from(&value).is_none(),
                "{bad:?} must be dropped"
            );
        }
    }
}
