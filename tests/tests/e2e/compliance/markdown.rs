//! Just enough Markdown for the document checks: fenced blocks, code spans, links, headings and
//! GitHub's heading anchors. Nothing here is a full CommonMark parser; the documents are ours.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The repository's root (the test package lives in `tests/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the repository root")
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// README.md and every docs/*.md, with their text, sorted by path.
pub fn documents() -> Vec<(PathBuf, String)> {
    let root = repo_root();
    let mut paths = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).expect("docs/") {
        let path = entry.expect("a docs/ entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            paths.push(path);
        }
    }
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = read(&p);
            (p, text)
        })
        .collect()
}

/// One fenced code block: its info string (the word after the fence) and its lines.
#[derive(Debug, Clone)]
pub struct Fence {
    pub info: String,
    pub body: Vec<String>,
}

/// A line of running text, outside any fenced block, with its 1-based number.
pub struct ProseLine<'a> {
    pub number: usize,
    pub text: &'a str,
}

/// Splits a document into its fenced blocks and the lines outside them.
pub fn split(text: &str) -> (Vec<Fence>, Vec<ProseLine<'_>>) {
    let mut fences = Vec::new();
    let mut prose = Vec::new();
    let mut open: Option<(String, Fence)> = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker: String = trimmed
            .chars()
            .take_while(|c| *c == '`' || *c == '~')
            .collect();
        let is_fence =
            marker.len() >= 3 && marker.chars().all(|c| c == marker.as_bytes()[0] as char);
        match open.take() {
            Some((opener, fence))
                if is_fence
                    && marker.starts_with(&opener)
                    && trimmed[marker.len()..].trim().is_empty() =>
            {
                fences.push(fence);
            }
            Some((opener, mut fence)) => {
                fence.body.push(line.to_owned());
                open = Some((opener, fence));
            }
            None if is_fence => {
                let info = trimmed[marker.len()..]
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                open = Some((
                    marker,
                    Fence {
                        info,
                        body: Vec::new(),
                    },
                ));
            }
            None => prose.push(ProseLine {
                number: index + 1,
                text: line,
            }),
        }
    }
    (fences, prose)
}

/// A piece of a prose line: running text or the content of a code span.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    Code(&'a str),
}

/// Splits one line into text and code spans (a run of N backticks closes at the next run of
/// exactly N; an unclosed run is text).
pub fn pieces(line: &str) -> Vec<Piece<'_>> {
    let bytes = line.as_bytes();
    let mut out = Vec::new();
    let mut text_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'`' {
            i += 1;
            continue;
        }
        let run = bytes[i..].iter().take_while(|b| **b == b'`').count();
        let content_start = i + run;
        let mut j = content_start;
        let mut close = None;
        while j < bytes.len() {
            if bytes[j] == b'`' {
                let other = bytes[j..].iter().take_while(|b| **b == b'`').count();
                if other == run {
                    close = Some(j);
                    break;
                }
                j += other;
            } else {
                j += 1;
            }
        }
        match close {
            Some(end) => {
                if text_start < i {
                    out.push(Piece::Text(&line[text_start..i]));
                }
                out.push(Piece::Code(line[content_start..end].trim()));
                i = end + run;
                text_start = i;
            }
            None => i = content_start,
        }
    }
    if text_start < line.len() {
        out.push(Piece::Text(&line[text_start..]));
    }
    out
}

/// Link targets in running text (`[text](target)`, `![alt](target)`, `[label]: target`), code
/// spans and fenced blocks left out.
pub fn link_targets(text: &str) -> Vec<(usize, String)> {
    let (_, prose) = split(text);
    let mut targets = Vec::new();
    for line in prose {
        let trimmed = line.text.trim_start();
        if trimmed.starts_with('[')
            && let Some(end) = trimmed.find("]:")
        {
            let target = trimmed[end + 2..].split_whitespace().next().unwrap_or("");
            if !target.is_empty() && !trimmed[..end].contains("](") {
                targets.push((line.number, clean_target(target)));
                continue;
            }
        }
        for piece in pieces(line.text) {
            let Piece::Text(text) = piece else { continue };
            let mut rest = text;
            while let Some(at) = rest.find("](") {
                let after = &rest[at + 2..];
                let Some(close) = after.find(')') else { break };
                let inside = after[..close].trim();
                let target = inside.split_whitespace().next().unwrap_or("");
                if !target.is_empty() {
                    targets.push((line.number, clean_target(target)));
                }
                rest = &after[close + 1..];
            }
        }
    }
    targets
}

fn clean_target(target: &str) -> String {
    target
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned()
}

/// GitHub's anchor for a heading: lowercase; letters, digits, `-`, `_` and spaces kept, spaces
/// turned into hyphens, everything else dropped (link syntax keeps only its text).
pub fn slug(heading: &str) -> String {
    let mut text = String::new();
    let mut rest = heading;
    // `[text](url)` keeps `text`.
    while let Some(open) = rest.find('[') {
        text.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match (after.find("]("), after.find(')')) {
            (Some(mid), Some(close)) if mid < close => {
                text.push_str(&after[..mid]);
                rest = &after[close + 1..];
            }
            _ => {
                text.push('[');
                rest = after;
            }
        }
    }
    text.push_str(rest);
    text.trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

/// The ATX headings of a document (outside fenced blocks): (level, text).
pub fn headings(text: &str) -> Vec<(usize, String)> {
    let (_, prose) = split(text);
    prose
        .iter()
        .filter_map(|line| {
            let level = line.text.chars().take_while(|c| *c == '#').count();
            let rest = &line.text[level..];
            ((1..=6).contains(&level) && (rest.is_empty() || rest.starts_with(' ')))
                .then(|| (level, rest.trim().trim_end_matches('#').trim().to_owned()))
        })
        .collect()
}

/// Every anchor GitHub generates for the document's headings (repeats get `-1`, `-2`, ...).
pub fn anchors(text: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    for (_, heading) in headings(text) {
        let base = slug(&heading);
        let mut anchor = base.clone();
        let mut n = 0;
        while seen.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        seen.insert(anchor);
    }
    seen
}

#[test]
fn the_markdown_helpers_read_what_github_renders() {
    assert_eq!(slug("Deploying to Railway"), "deploying-to-railway");
    assert_eq!(
        slug("5. Migrations: on start or as a `pre-deploy` command"),
        "5-migrations-on-start-or-as-a-pre-deploy-command"
    );
    assert_eq!(
        slug("§164.312(a)(2)(i) Unique user identification"),
        "164312a2i-unique-user-identification"
    );
    assert_eq!(slug("The [link](x.md) text"), "the-link-text");
    assert_eq!(
        pieces("run `haven migrate up` or ``a ` b``"),
        vec![
            Piece::Text("run "),
            Piece::Code("haven migrate up"),
            Piece::Text(" or "),
            Piece::Code("a ` b"),
        ]
    );
    let doc = "# T\n\n[a](x.md#y) `[no](z.md)`\n```sh\n# not a heading\n[no](w.md)\n```\n[ref]: <r.md>\n## T\n";
    let targets: Vec<String> = link_targets(doc).into_iter().map(|(_, t)| t).collect();
    assert_eq!(targets, vec!["x.md#y", "r.md"]);
    let anchors = anchors(doc);
    assert!(anchors.contains("t") && anchors.contains("t-1") && anchors.len() == 2);
}
