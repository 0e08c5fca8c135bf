//! The Dockerfile's runtime stage fails safe and carries no package it does not use
//! (scripts/image checks the built image itself).

use crate::deploy_files::{dockerfile, final_stage};

#[test]
fn the_image_is_a_production_server_unless_environment_says_otherwise() {
    let instructions = dockerfile();
    assert!(
        final_stage(&instructions)
            .iter()
            .any(|i| i.keyword == "ENV" && i.args.replace(' ', "=") == "ENVIRONMENT=production"),
        "the runtime stage sets ENV ENVIRONMENT=production"
    );
}

#[test]
fn the_runtime_stage_installs_no_packages_only_the_ca_bundle_is_copied_in() {
    let instructions = dockerfile();
    let runtime = final_stage(&instructions);
    assert!(
        !runtime
            .iter()
            .any(|i| i.keyword == "RUN" && i.args.contains("apt-get")),
        "apt-get in the runtime stage brings openssl with ca-certificates"
    );
    assert!(runtime.iter().any(|i| i.keyword == "COPY"
        && i.args.contains("--from=")
        && i.args.ends_with("/etc/ssl/certs/ca-certificates.crt")));
}
