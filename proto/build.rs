//! Compiles the `.proto` sources under `proto/` with `protox` (pure Rust, no system `protoc`)
//! and generates the prost types; also writes the encoded `FileDescriptorSet` to `OUT_DIR`.

use std::path::PathBuf;

/// Every `.proto` file of the crate, relative to the `proto/` include root.
const PROTOS: &[&str] = &[
    "waxosuit/v1/envelope.proto",
    "waxosuit/keyvalue/v1/keyvalue.proto",
    "waxosuit/messaging/v1/messaging.proto",
    "waxosuit/http/v1/http.proto",
    "waxosuit/core/v1/core.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("proto");
    println!("cargo:rerun-if-changed={}", root.display());
    for file in PROTOS {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }

    let fds = protox::compile(PROTOS, [&root])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("file_descriptor_set.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;

    prost_build::Config::new()
        .enable_type_names()
        .type_name_domain(["."], "type.googleapis.com")
        .compile_fds(fds)?;
    Ok(())
}
