//! The deployment files (railway.json, Dockerfile, .dockerignore) keep the properties the
//! platform relies on. No Docker engine runs here, so these read the files themselves.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository root")
        .to_path_buf()
}

fn read(relative: &str) -> String {
    let path = repo_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn railway() -> Value {
    serde_json::from_str(&read("railway.json")).expect("railway.json is valid JSON")
}

fn deploy_number(railway: &Value, key: &str) -> u64 {
    railway["deploy"][key].as_u64().unwrap_or_else(|| {
        panic!(
            "deploy.{key} must be a whole number, not {}",
            railway["deploy"][key]
        )
    })
}

/// Railway's config-as-code keys (https://railway.com/railway.schema.json), by section.
const TOP_LEVEL_KEYS: &[&str] = &["$schema", "build", "deploy"];
const BUILD_KEYS: &[&str] = &["builder", "dockerfilePath", "buildCommand", "watchPatterns"];
const DEPLOY_KEYS: &[&str] = &[
    "startCommand",
    "preDeployCommand",
    "healthcheckPath",
    "healthcheckTimeout",
    "restartPolicyType",
    "restartPolicyMaxRetries",
    "drainingSeconds",
    "overlapSeconds",
    "numReplicas",
    "sleepApplication",
    "cronSchedule",
    "region",
    "multiRegionConfig",
    "runtime",
    "limitOverride",
    "requiredMountPath",
];

#[test]
fn railway_json_builds_the_service_from_the_dockerfile() {
    let railway = railway();
    assert_eq!(railway["build"]["builder"], "DOCKERFILE");
    if let Some(path) = railway["build"]["dockerfilePath"].as_str() {
        assert!(
            repo_root().join(path).is_file(),
            "dockerfilePath {path} must exist"
        );
    }
}

#[test]
fn railway_json_probes_readiness_with_a_numeric_timeout() {
    let railway = railway();
    assert_eq!(railway["deploy"]["healthcheckPath"], "/api/v1/health/ready");
    assert!(deploy_number(&railway, "healthcheckTimeout") > 0);
}

#[test]
fn railway_json_restarts_on_failure_a_bounded_number_of_times() {
    let railway = railway();
    assert_eq!(railway["deploy"]["restartPolicyType"], "ON_FAILURE");
    deploy_number(&railway, "restartPolicyMaxRetries");
}

#[test]
fn railway_json_drains_longer_than_the_default_shutdown_grace() {
    let minimal = HashMap::from([(
        "DATABASE_URL".to_owned(),
        "postgres://x@127.0.0.1/x".to_owned(),
    )]);
    let grace = haven_api::Config::from_map(&minimal)
        .expect("a minimal environment is valid")
        .shutdown_grace
        .as_secs();
    let draining = deploy_number(&railway(), "drainingSeconds");
    assert!(
        draining > grace,
        "drainingSeconds ({draining}) must exceed SHUTDOWN_GRACE_SECONDS' default ({grace}), \
         or Railway kills requests the service is still finishing"
    );
}

#[test]
fn railway_json_uses_only_keys_of_railways_config_as_code_schema() {
    let railway = railway();
    let sections = [
        ("top level", &railway, TOP_LEVEL_KEYS),
        ("build", &railway["build"], BUILD_KEYS),
        ("deploy", &railway["deploy"], DEPLOY_KEYS),
    ];
    for (section, value, allowed) in sections {
        let Some(object) = value.as_object() else {
            assert!(value.is_null(), "{section} must be an object");
            continue;
        };
        for key in object.keys() {
            assert!(
                allowed.contains(&key.as_str()),
                "{section} has {key:?}, which Railway's schema does not know"
            );
        }
    }
}

/// One Dockerfile instruction: its keyword (upper case) and its arguments, continuation lines
/// joined and comment lines dropped, as Docker reads them.
#[derive(Debug)]
pub(crate) struct Instruction {
    pub(crate) keyword: String,
    pub(crate) args: String,
}

pub(crate) fn dockerfile() -> Vec<Instruction> {
    let mut instructions = Vec::new();
    let mut pending = String::new();
    for line in read("Dockerfile").lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && pending.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                pending.push_str(head);
                pending.push(' ');
            }
            None => {
                pending.push_str(trimmed);
                let (keyword, args) = pending
                    .split_once(char::is_whitespace)
                    .unwrap_or((&pending, ""));
                instructions.push(Instruction {
                    keyword: keyword.to_ascii_uppercase(),
                    args: args.trim().to_owned(),
                });
                pending.clear();
            }
        }
    }
    instructions
}

/// The instructions of the last stage (the image that runs).
pub(crate) fn final_stage(instructions: &[Instruction]) -> &[Instruction] {
    let last_from = instructions
        .iter()
        .rposition(|i| i.keyword == "FROM")
        .expect("the Dockerfile has a FROM");
    &instructions[last_from..]
}

/// Index of the first COPY that brings in the crates' sources (not just their manifests).
fn source_copy(instructions: &[Instruction]) -> usize {
    instructions
        .iter()
        .position(|i| {
            i.keyword == "COPY"
                && i.args.split_whitespace().any(|arg| {
                    arg == "crates" || arg == "crates/" || arg == "." || arg.ends_with("/src")
                })
        })
        .expect("the Dockerfile copies the crates' sources")
}

/// Index of the RUN that builds the dependencies before the sources arrive.
fn dependency_build(instructions: &[Instruction]) -> usize {
    let before_sources = source_copy(instructions);
    instructions[..before_sources]
        .iter()
        .position(|i| i.keyword == "RUN" && i.args.contains("cargo build"))
        .expect("a `cargo build` of the dependencies runs before the sources are copied")
}

/// Words of the dependency layer's COPY and RUN instructions, quotes and `;` stripped.
fn dependency_layer_words(instructions: &[Instruction]) -> Vec<String> {
    instructions[..=dependency_build(instructions)]
        .iter()
        .filter(|i| i.keyword == "COPY" || i.keyword == "RUN")
        .flat_map(|i| i.args.split_whitespace())
        .map(|w| w.trim_matches(|c| matches!(c, '"' | '\'' | ';')).to_owned())
        .collect()
}

/// Every crate directory: each `crates/*` with a manifest, and `tests`.
fn member_dirs() -> Vec<String> {
    let mut dirs: Vec<String> = std::fs::read_dir(repo_root().join("crates"))
        .expect("crates/ exists")
        .filter_map(Result::ok)
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| format!("crates/{}", e.file_name().to_string_lossy()))
        .collect();
    dirs.push("tests".to_owned());
    dirs
}

#[test]
fn the_dockerfile_builds_in_one_stage_and_runs_in_another() {
    let froms = dockerfile().iter().filter(|i| i.keyword == "FROM").count();
    assert!(froms >= 2, "multi-stage: found {froms} FROM");
}

#[test]
fn the_dockerfile_builds_dependencies_before_copying_the_sources() {
    let instructions = dockerfile();
    let build = dependency_build(&instructions);
    let lock_copied = instructions[..build]
        .iter()
        .any(|i| i.keyword == "COPY" && i.args.contains("Cargo.lock"));
    assert!(
        lock_copied,
        "Cargo.lock is copied before the dependency build"
    );
}

#[test]
fn every_crate_is_in_the_dockerfiles_dependency_layer() {
    let words = dependency_layer_words(&dockerfile());
    for dir in member_dirs() {
        let manifest = format!("{dir}/Cargo.toml");
        assert!(
            words.contains(&manifest),
            "the dependency layer must COPY {manifest}, or cargo cannot load the workspace"
        );
        assert!(
            words
                .iter()
                .any(|w| w == &dir || w.starts_with(&format!("{dir}/src"))),
            "the dependency layer must give {dir} a stub source"
        );
    }
}

/// Files a manifest names explicitly (`build = ...`, `[[bin]]`, `[[example]]`, `[[test]]`,
/// `[[bench]]`): cargo refuses to load the workspace when one is missing, so the dependency
/// layer, which has only manifests, must create each. Each entry lists the accepted paths.
fn declared_target_files(manifest: &str) -> Vec<Vec<String>> {
    let mut files = Vec::new();
    let mut section = String::new();
    let (mut name, mut path) = (None, None);
    for line in manifest.lines().map(str::trim).chain(["[end]"]) {
        if line.starts_with('[') {
            if let Some(file) = target_file(&section, name.take(), path.take()) {
                files.push(file);
            }
            section = line.to_owned();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"').to_owned();
        match (section.as_str(), key.trim()) {
            ("[package]", "build") if value != "false" => files.push(vec![value]),
            (_, "name") => name = Some(value),
            (_, "path") => path = Some(value),
            _ => {}
        }
    }
    files
}

/// The file a `[[kind]]` table points at: its `path`, or cargo's default places for its name.
fn target_file(section: &str, name: Option<String>, path: Option<String>) -> Option<Vec<String>> {
    let dir = match section {
        "[[bin]]" => "src/bin",
        "[[example]]" => "examples",
        "[[test]]" => "tests",
        "[[bench]]" => "benches",
        _ => return None,
    };
    match (path, name) {
        (Some(path), _) => Some(vec![path]),
        (None, Some(name)) => Some(vec![
            format!("{dir}/{name}.rs"),
            format!("{dir}/{name}/main.rs"),
        ]),
        (None, None) => None,
    }
}

#[test]
fn every_target_a_manifest_declares_is_stubbed_in_the_dependency_layer() {
    let words = dependency_layer_words(&dockerfile());
    for dir in member_dirs() {
        for accepted in declared_target_files(&read(&format!("{dir}/Cargo.toml"))) {
            let stubbed = accepted
                .iter()
                .any(|file| words.contains(&format!("{dir}/{file}")));
            assert!(
                stubbed,
                "{dir}/Cargo.toml declares {}, which the Dockerfile's dependency layer does not \
                 create: the cached `cargo build` would fail to load the workspace",
                accepted.join(" or ")
            );
        }
    }
}

#[test]
fn the_image_runs_as_a_non_root_user() {
    let instructions = dockerfile();
    let user = final_stage(&instructions)
        .iter()
        .rfind(|i| i.keyword == "USER")
        .expect("the runtime stage sets USER");
    let name = user.args.split(':').next().unwrap_or_default();
    assert!(
        !matches!(name, "root" | "0" | ""),
        "USER {} is root",
        user.args
    );
}

#[test]
fn the_image_exposes_a_port() {
    let instructions = dockerfile();
    assert!(
        final_stage(&instructions)
            .iter()
            .any(|i| i.keyword == "EXPOSE")
    );
}

#[test]
fn the_image_healthcheck_runs_haven_healthcheck() {
    let instructions = dockerfile();
    let check = final_stage(&instructions)
        .iter()
        .find(|i| i.keyword == "HEALTHCHECK")
        .expect("the runtime stage has a HEALTHCHECK");
    let command = check
        .args
        .split_once("CMD")
        .map(|(_, c)| c.trim())
        .unwrap_or_default();
    let words: Vec<String> = serde_json::from_str(command)
        .unwrap_or_else(|_| command.split_whitespace().map(str::to_owned).collect());
    assert!(
        words.len() >= 2 && words[0].ends_with("haven") && words[1] == "healthcheck",
        "HEALTHCHECK must run `haven healthcheck`, not {command:?}"
    );
}

#[test]
fn the_image_starts_the_binary_in_exec_form_so_it_receives_sigterm() {
    let instructions = dockerfile();
    let stage = final_stage(&instructions);
    let starts: Vec<&Instruction> = stage
        .iter()
        .filter(|i| i.keyword == "CMD" || i.keyword == "ENTRYPOINT")
        .collect();
    assert!(
        !starts.is_empty(),
        "the runtime stage has a CMD or ENTRYPOINT"
    );
    for start in starts {
        let parsed: Result<Vec<String>, _> = serde_json::from_str(&start.args);
        assert!(
            parsed.is_ok(),
            "{} {} must be a JSON array (exec form)",
            start.keyword,
            start.args
        );
    }
}

#[test]
fn the_dockerignore_keeps_target_and_git_out_of_the_build_context() {
    let patterns: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_start_matches('/').trim_end_matches('/').to_owned())
        .collect();
    for wanted in ["target", ".git"] {
        assert!(
            patterns.iter().any(|p| p == wanted),
            ".dockerignore must exclude {wanted}: {patterns:?}"
        );
    }
}
