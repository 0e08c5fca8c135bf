//! A secret's JSON text into [`AppSecrets`], without ever echoing any of the text.

use serde_json::{Map, Value};

use crate::error::SecretsError;
use crate::secrets::{AppSecrets, DATABASE_URL, OIDC_CLIENT_SECRET};

/// Parses a `SecretString` that must be a JSON object whose values are all strings.
///
/// Known keys fill the typed fields, others go to `extra` and are reported by name at warn.
/// Empty values count as absent. Every key in `required` must then hold a value.
pub(crate) fn parse_secret_json(
    secret_id: &str,
    text: &str,
    required: &[&str],
) -> Result<AppSecrets, SecretsError> {
    let object = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => object,
        Ok(other) => {
            return Err(malformed(
                secret_id,
                format!("expected a JSON object, found {}", json_type(&other)),
            ));
        }
        // serde_json's own message can quote input for data errors: only category and position.
        Err(error) => {
            return Err(malformed(
                secret_id,
                format!(
                    "invalid JSON ({:?} error) at line {} column {}",
                    error.classify(),
                    error.line(),
                    error.column()
                ),
            ));
        }
    };
    let secrets = into_secrets(secret_id, object)?;
    for key in required {
        if secrets.get(key).is_none() {
            return Err(SecretsError::MissingKey {
                secret_id: secret_id.to_owned(),
                key: (*key).to_owned(),
            });
        }
    }
    Ok(secrets)
}

fn into_secrets(secret_id: &str, object: Map<String, Value>) -> Result<AppSecrets, SecretsError> {
    let mut secrets = AppSecrets::default();
    for (key, value) in object {
        let Value::String(value) = value else {
            return Err(SecretsError::NotAString {
                secret_id: secret_id.to_owned(),
                key,
            });
        };
        if value.is_empty() {
            continue;
        }
        match key.as_str() {
            OIDC_CLIENT_SECRET => secrets.oidc_client_secret = Some(value.into()),
            DATABASE_URL => secrets.database_url = Some(value.into()),
            _ => {
                tracing::warn!(
                    secret_id,
                    key = %key,
                    "secret has an unrecognised key (kept in extra)"
                );
                secrets.extra.insert(key, value.into());
            }
        }
    }
    Ok(secrets)
}

fn malformed(secret_id: &str, reason: String) -> SecretsError {
    SecretsError::Malformed {
        secret_id: secret_id.to_owned(),
        reason,
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    const ID: &str = "haven/app";

    fn parse(text: &str) -> Result<AppSecrets, SecretsError> {
        parse_secret_json(ID, text, &[OIDC_CLIENT_SECRET])
    }

    fn reason_of(result: Result<AppSecrets, SecretsError>) -> String {
        match result {
            Err(SecretsError::Malformed { reason, .. }) => reason,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn known_keys_fill_fields_and_others_go_to_extra() {
        let text = r#"{"OIDC_CLIENT_SECRET":"o-1","DATABASE_URL":"postgres://x","API_KEY":"k"}"#;
        let secrets = parse(text).expect("valid secret");
        let oidc = secrets
            .oidc_client_secret
            .as_ref()
            .map(|s| s.expose_secret());
        let db = secrets.database_url.as_ref().map(|s| s.expose_secret());
        assert_eq!(oidc, Some("o-1"));
        assert_eq!(db, Some("postgres://x"));
        assert_eq!(secrets.extra.keys().collect::<Vec<_>>(), ["API_KEY"]);
    }

    #[test]
    fn unknown_keys_are_warned_about_by_name_and_never_by_value() {
        let text = r#"{"OIDC_CLIENT_SECRET":"known-value-3e1f","API_KEY":"unknown-value-8c2d","SMTP_PASSWORD":"unknown-value-5a7b"}"#;
        let mut parsed = None;
        let logs = crate::test_log::capture(|| parsed = Some(parse(text)));
        let secrets = parsed.expect("ran").expect("valid secret");
        assert_eq!(
            secrets.extra.keys().collect::<Vec<_>>(),
            ["API_KEY", "SMTP_PASSWORD"]
        );
        let lines: Vec<&str> = logs.lines().collect();
        assert_eq!(lines.len(), 2, "one warning per unknown key: {logs}");
        for (line, key) in lines.iter().zip(["API_KEY", "SMTP_PASSWORD"]) {
            assert!(
                line.contains("WARN") && line.contains("unrecognised key"),
                "{logs}"
            );
            assert!(line.contains(&format!("key={key}")), "{logs}");
            assert!(line.contains(ID), "names the secret: {logs}");
        }
        for value in ["known-value", "unknown-value"] {
            assert!(!logs.contains(value), "{value} leaked: {logs}");
        }
    }

    #[test]
    fn syntax_errors_report_position_but_no_text() {
        let value = "leaky-value-9b2e";
        for text in [
            format!(r#"{{"OIDC_CLIENT_SECRET": "{value}""#),
            format!(r#"{{"OIDC_CLIENT_SECRET": {value}}}"#),
            value.to_owned(),
            format!(r#"{{"OIDC_CLIENT_SECRET": "{value}"}} {value}"#),
        ] {
            let reason = reason_of(parse(&text));
            assert!(!reason.contains("leaky"), "{reason}");
            assert!(reason.contains("line 1 column"), "{reason}");
        }
    }

    #[test]
    fn non_objects_are_malformed_naming_only_the_type() {
        assert_eq!(
            reason_of(parse(r#"["OIDC_CLIENT_SECRET","v"]"#)),
            "expected a JSON object, found an array"
        );
        assert_eq!(
            reason_of(parse(r#""just-a-string""#)),
            "expected a JSON object, found a string"
        );
        assert_eq!(
            reason_of(parse("null")),
            "expected a JSON object, found null"
        );
    }

    #[test]
    fn non_string_values_name_the_key() {
        for text in [
            r#"{"OIDC_CLIENT_SECRET":"v","PORT":5432}"#,
            r#"{"OIDC_CLIENT_SECRET":"v","PORT":{"n":"1"}}"#,
            r#"{"OIDC_CLIENT_SECRET":"v","PORT":null}"#,
        ] {
            match parse(text) {
                Err(SecretsError::NotAString { key, .. }) => assert_eq!(key, "PORT"),
                other => panic!("expected NotAString, got {other:?}"),
            }
        }
    }

    #[test]
    fn missing_or_empty_required_keys_are_reported_by_name() {
        for text in [
            r#"{"DATABASE_URL":"postgres://x"}"#,
            r#"{"OIDC_CLIENT_SECRET":""}"#,
            "{}",
        ] {
            match parse(text) {
                Err(SecretsError::MissingKey { key, secret_id }) => {
                    assert_eq!(key, OIDC_CLIENT_SECRET);
                    assert_eq!(secret_id, ID);
                }
                other => panic!("expected MissingKey, got {other:?}"),
            }
        }
        let optional = parse_secret_json(ID, r#"{"DATABASE_URL":""}"#, &[]).expect("no required");
        assert!(optional.database_url.is_none());
    }
}
