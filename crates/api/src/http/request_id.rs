//! Request ids: reuse a caller's `X-Request-ID` when it is short and safe, else make one.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const MAX_LEN: usize = 64;

/// The id of the request being served; in request and response extensions.
#[derive(Debug, Clone)]
pub struct RequestId {
    text: Arc<str>,
    /// The same id as a header value, made once for the request's and the response's headers.
    header: HeaderValue,
}

impl RequestId {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Only ids of safe ASCII characters are made (see `from_inbound`, `generate`).
    fn new(text: &str, header: HeaderValue) -> Self {
        Self {
            text: Arc::from(text),
            header,
        }
    }

    /// An inbound id is kept only if it cannot smuggle anything into logs or headers.
    fn from_inbound(value: &HeaderValue) -> Option<Self> {
        let text = value.to_str().ok()?;
        let safe = !text.is_empty()
            && text.len() <= MAX_LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        safe.then(|| Self::new(text, value.clone()))
    }

    fn generate() -> Self {
        let text = uuid::Uuid::new_v4().hyphenated().to_string();
        let header = HeaderValue::from_str(&text).expect("a UUID is a valid header value");
        Self::new(&text, header)
    }
}

/// The request's id (the caller's if safe, else a new one), put on the request's headers and
/// extensions. Called first of all by `http::front::serve`.
pub fn assign(request: &mut Request) -> RequestId {
    let id = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(RequestId::from_inbound)
        .unwrap_or_else(RequestId::generate);
    request
        .headers_mut()
        .insert(X_REQUEST_ID.clone(), id.header.clone());
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
    fn safe_inbound_ids_are_kept_and_others_replaced() {
        let keep = HeaderValue::from_static("abc-123_x.y");
        assert_eq!(
            RequestId::from_inbound(&keep).unwrap().as_str(),
            "abc-123_x.y"
        );
        for bad in [
            "",
            "has space",
            "semi;colon",
            "{\"json\":1}",
            &"a".repeat(65),
        ] {
            let value = HeaderValue::from_str(bad).unwrap();
            assert!(
                RequestId::from_inbound(&value).is_none(),
                "{bad:?} must be replaced"
            );
        }
    }
}
