//! The queries of docs/OBSERVABILITY.md: CloudWatch Logs Insights queries (```logs-insights
//! blocks) and metric filter patterns (```metric-filter blocks), and the log fields each uses.

use std::collections::BTreeSet;

use super::markdown::Fence;

/// One documented query and what it relies on.
#[derive(Debug)]
pub struct Query {
    /// The query's first comment line, to name it in failures.
    pub title: String,
    /// Log fields the query reads, as parsed from the query itself.
    pub fields: BTreeSet<String>,
    /// The `# log fields:` line, which every Logs Insights query must have (metric filters have
    /// none).
    pub declared: Option<BTreeSet<String>>,
    pub is_insights: bool,
    /// Values compared with `message` and `level`.
    pub messages: BTreeSet<String>,
    pub levels: BTreeSet<String>,
    pub text: String,
}

const KEYWORDS: &[&str] = &[
    "and", "or", "not", "like", "in", "by", "as", "asc", "desc", "fields", "filter", "stats",
    "sort", "limit", "display", "dedup", "parse", "true", "false",
];

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Literal(String),
    Symbol(char),
}

fn tokens(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' || c == '\'' {
            let end = (i + 1..chars.len())
                .find(|&j| chars[j] == c)
                .unwrap_or(chars.len());
            out.push(Token::Literal(chars[i + 1..end].iter().collect()));
            i = end + 1;
        } else if c == '/' && matches!(out.last(), Some(Token::Word(w)) if w == "like") {
            // A regular expression: skipped whole.
            let end = (i + 1..chars.len())
                .find(|&j| chars[j] == '/')
                .unwrap_or(chars.len());
            out.push(Token::Literal(chars[i + 1..end].iter().collect()));
            i = end + 1;
        } else if c.is_ascii_digit() {
            let end = (i..chars.len())
                .find(|&j| !(chars[j].is_ascii_alphanumeric() || chars[j] == '.'))
                .unwrap_or(chars.len());
            out.push(Token::Literal(chars[i..end].iter().collect()));
            i = end;
        } else if c.is_alphabetic() || c == '_' || c == '@' || c == '$' {
            let end = (i..chars.len())
                .find(|&j| {
                    !(chars[j].is_alphanumeric() || matches!(chars[j], '_' | '@' | '.' | '$'))
                })
                .unwrap_or(chars.len());
            out.push(Token::Word(chars[i..end].iter().collect()));
            i = end;
        } else {
            out.push(Token::Symbol(c));
            i += 1;
        }
    }
    out
}

/// A Logs Insights query: fields are the identifiers that are not commands, keywords,
/// functions (a word before `(`), aliases (a word after `as`, and later uses of it) or fields
/// CloudWatch makes itself (`@timestamp`).
fn insights_fields(
    query: &str,
    messages: &mut BTreeSet<String>,
    levels: &mut BTreeSet<String>,
) -> BTreeSet<String> {
    let tokens = tokens(query);
    let mut aliases = BTreeSet::new();
    let mut fields = BTreeSet::new();
    for (i, token) in tokens.iter().enumerate() {
        let Token::Word(word) = token else { continue };
        let previous = i.checked_sub(1).map(|p| &tokens[p]);
        let next = tokens.get(i + 1);
        if previous == Some(&Token::Word("as".into())) {
            aliases.insert(word.clone());
            continue;
        }
        if word.starts_with('@')
            || KEYWORDS.contains(&word.to_lowercase().as_str())
            || next == Some(&Token::Symbol('('))
            || aliases.contains(word)
        {
            continue;
        }
        // `field = "value"`: remember what message and level values the query expects.
        if let (Some(Token::Symbol('=')), Some(Token::Literal(value))) = (next, tokens.get(i + 2)) {
            match word.as_str() {
                "message" => drop(messages.insert(value.clone())),
                "level" => drop(levels.insert(value.clone())),
                _ => {}
            }
        }
        fields.insert(word.clone());
    }
    fields
}

/// A metric filter pattern: fields are written `$.name`.
fn metric_filter_fields(
    pattern: &str,
    messages: &mut BTreeSet<String>,
    levels: &mut BTreeSet<String>,
) -> BTreeSet<String> {
    let tokens = tokens(pattern);
    let mut fields = BTreeSet::new();
    for (i, token) in tokens.iter().enumerate() {
        let Token::Word(word) = token else { continue };
        let Some(name) = word.strip_prefix("$.") else {
            continue;
        };
        if let (Some(Token::Symbol('=')), Some(Token::Literal(value))) =
            (tokens.get(i + 1), tokens.get(i + 2))
        {
            match name {
                "message" => drop(messages.insert(value.clone())),
                "level" => drop(levels.insert(value.clone())),
                _ => {}
            }
        }
        fields.insert(name.to_owned());
    }
    fields
}

fn list(text: &str) -> BTreeSet<String> {
    text.split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Every query of the document's ```logs-insights blocks (blocks are separated by a blank line
/// into queries) and every pattern of its ```metric-filter blocks (one per line).
pub fn queries(fences: &[Fence]) -> Vec<Query> {
    let mut out = Vec::new();
    for fence in fences {
        match fence.info.as_str() {
            "logs-insights" => {
                for chunk in fence.body.split(|line| line.trim().is_empty()) {
                    if chunk.is_empty() {
                        continue;
                    }
                    let comments: Vec<&str> = chunk
                        .iter()
                        .filter_map(|l| l.trim().strip_prefix('#'))
                        .map(str::trim)
                        .collect();
                    let declared = comments
                        .iter()
                        .find_map(|c| c.strip_prefix("log fields:"))
                        .map(list);
                    let text: Vec<&str> = chunk
                        .iter()
                        .map(String::as_str)
                        .filter(|l| !l.trim().starts_with('#'))
                        .collect();
                    let text = text.join("\n");
                    let (mut messages, mut levels) = (BTreeSet::new(), BTreeSet::new());
                    let fields = insights_fields(&text, &mut messages, &mut levels);
                    out.push(Query {
                        title: comments
                            .first()
                            .map_or_else(|| text.clone(), |c| (*c).to_owned()),
                        fields,
                        declared,
                        is_insights: true,
                        messages,
                        levels,
                        text,
                    });
                }
            }
            "metric-filter" => {
                for line in fence.body.iter().filter(|l| l.contains("$.")) {
                    let (mut messages, mut levels) = (BTreeSet::new(), BTreeSet::new());
                    let fields = metric_filter_fields(line, &mut messages, &mut levels);
                    out.push(Query {
                        title: line.trim().to_owned(),
                        fields,
                        declared: None,
                        is_insights: false,
                        messages,
                        levels,
                        text: line.trim().to_owned(),
                    });
                }
            }
            _ => {}
        }
    }
    out
}

#[test]
fn the_query_parser_finds_fields_but_not_functions_aliases_or_literals() {
    let mut messages = BTreeSet::new();
    let mut levels = BTreeSet::new();
    let fields = insights_fields(
        "filter message = \"request completed\" and ispresent(route) and level = 'ERROR'\n\
         | stats count(*) as n, pct(duration_ms, 99) as p99 by bin(5m), route\n\
         | filter error_code like /^AUTH_/ and status in [401, 403]\n\
         | sort p99 desc | limit 20",
        &mut messages,
        &mut levels,
    );
    let expected: BTreeSet<String> = [
        "message",
        "route",
        "level",
        "duration_ms",
        "error_code",
        "status",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(fields, expected);
    assert!(messages.contains("request completed") && levels.contains("ERROR"));
    let fields = metric_filter_fields(
        "{ $.message = \"request completed\" && $.status >= 500 }",
        &mut messages,
        &mut levels,
    );
    assert_eq!(
        fields.into_iter().collect::<Vec<_>>(),
        vec!["message", "status"]
    );
}
