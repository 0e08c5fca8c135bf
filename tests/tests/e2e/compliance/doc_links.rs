//! The documents' links resolve, and every `haven` command they mention is one the binary has.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use super::markdown::{Piece, anchors, documents, link_targets, pieces, read, repo_root, split};

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let root = repo_root();
    let mut problems = Vec::new();
    let mut checked = 0;
    for (path, text) in documents() {
        let shown = path
            .strip_prefix(&root)
            .unwrap_or(&path)
            .display()
            .to_string();
        for (number, target) in link_targets(&text) {
            let scheme = target.split_once(':').is_some_and(|(s, _)| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
            });
            if scheme || target.starts_with("//") {
                continue;
            }
            checked += 1;
            let (file, anchor) = match target.split_once('#') {
                Some((file, anchor)) => (file, Some(anchor)),
                None => (target.as_str(), None),
            };
            let resolved = if file.is_empty() {
                path.clone()
            } else {
                normalize(&path.parent().expect("a folder").join(file))
            };
            if !resolved.starts_with(&root) {
                problems.push(format!(
                    "{shown}:{number}: {target} points outside the repository"
                ));
            } else if !resolved.exists() {
                problems.push(format!("{shown}:{number}: {target}: no such file"));
            } else if let Some(anchor) = anchor
                && resolved.extension().is_some_and(|e| e == "md")
                && !anchors(&read(&resolved)).contains(anchor)
            {
                problems.push(format!(
                    "{shown}:{number}: {target}: no heading has that anchor"
                ));
            }
        }
    }
    assert!(
        checked > 30,
        "only {checked} relative links found: the parser looks broken"
    );
    assert!(
        problems.is_empty(),
        "broken links:\n{}",
        problems.join("\n")
    );
}

/// `a/b/../c` without touching the file system (the target may not exist).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn is_word(token: &str) -> bool {
    token.starts_with(|c: char| c.is_ascii_lowercase())
        && token
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// `haven <sub> [<subsub>|<alt>...]` in a piece of code: (subcommand, alternatives for the next
/// word). `haven` must stand alone (`/usr/local/bin/haven` counts; `haven-api`, `haven:` do not).
fn haven_commands(code: &str) -> Vec<(String, Vec<String>)> {
    let mut found = Vec::new();
    for line in code.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        for (i, word) in words.iter().enumerate() {
            if !(*word == "haven" || word.ends_with("/haven")) {
                continue;
            }
            let Some(sub) = words.get(i + 1).filter(|w| is_word(w)) else {
                continue;
            };
            let next = words
                .get(i + 2)
                .map(|w| {
                    w.split('|')
                        .filter(|a| is_word(a))
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            found.push(((*sub).to_owned(), next));
        }
    }
    found
}

fn help(args: &[&str]) -> (bool, String) {
    let mut all: Vec<&str> = args.to_vec();
    all.push("--help");
    let output = Command::new(haven_tests::haven_binary())
        .args(&all)
        .env_clear()
        .output()
        .expect("run haven");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn every_haven_command_the_docs_mention_exists() {
    let root = repo_root();
    // (subcommand, next word) -> where it is mentioned.
    let mut mentions: BTreeMap<(String, Option<String>), String> = BTreeMap::new();
    for (path, text) in documents() {
        let shown = path
            .strip_prefix(&root)
            .unwrap_or(&path)
            .display()
            .to_string();
        let (fences, prose) = split(&text);
        let mut code: Vec<(String, String)> = fences
            .iter()
            .map(|f| (f.body.join("\n"), format!("{shown} (code block)")))
            .collect();
        for line in &prose {
            let parts = pieces(line.text);
            for (i, piece) in parts.iter().enumerate() {
                // "there is no `haven migrate down`" mentions a command that does not exist.
                let negated = i > 0
                    && matches!(parts[i - 1], Piece::Text(t) if t.to_lowercase().ends_with("no "));
                if let Piece::Code(c) = piece
                    && !negated
                {
                    code.push(((*c).to_owned(), format!("{shown}:{}", line.number)));
                }
            }
        }
        for (snippet, place) in code {
            for (sub, next) in haven_commands(&snippet) {
                mentions
                    .entry((sub.clone(), None))
                    .or_insert_with(|| place.clone());
                for word in next {
                    mentions
                        .entry((sub.clone(), Some(word)))
                        .or_insert_with(|| place.clone());
                }
            }
        }
    }
    assert!(
        mentions
            .keys()
            .any(|(sub, next)| sub == "audit" && next.as_deref() == Some("verify")),
        "the parser found no `haven audit verify` in the docs: {mentions:?}"
    );
    let mut problems = Vec::new();
    let mut takes_subcommands = BTreeMap::new();
    for ((sub, next), place) in &mentions {
        let (ok, text) = help(&[sub.as_str()]);
        if next.is_none() {
            if !ok {
                problems.push(format!("{place}: `haven {sub}` is not a command"));
            }
            takes_subcommands.insert(sub.clone(), ok && text.contains("Commands:"));
            continue;
        }
        let next = next.as_deref().expect("a second word");
        // A command without subcommands takes arguments there (`haven tenants suspend ID`).
        if *takes_subcommands.get(sub).unwrap_or(&false) && !help(&[sub.as_str(), next]).0 {
            problems.push(format!("{place}: `haven {sub} {next}` is not a command"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
