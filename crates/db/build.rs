//! Migrations are embedded at compile time: a new file in migrations/ must trigger a rebuild.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
